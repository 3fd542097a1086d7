"""The python-socketio client against Hearth, the same scenario as scenario.js.

    python python_client.py <default|websocket> <url> <access token> <stay seconds>

Prints one JSON line per step; exits 0 when every step passed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import socketio


def main() -> int:
    transports, url, token, stay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    client = socketio.Client(reconnection=False)
    seen: dict[str, Any] = {}
    arrived = {name: threading.Event() for name in ("auth-success", "tagged", "error")}
    disconnected: list[str] = []

    def log(step: str, **data: Any) -> None:
        print(json.dumps({"step": step, **data}), flush=True)

    def recorder(name: str) -> Any:
        def record(data: Any) -> None:
            seen[name] = data
            arrived[name].set()

        return record

    client.on("auth-success", recorder("auth-success"))
    client.on("socket-api-error-t2", recorder("tagged"))
    client.on("socket-api-error", recorder("error"))
    client.on("disconnect", lambda *reason: disconnected.append(str(reason)))

    client.connect(
        url, transports=["websocket"] if transports == "websocket" else None, wait_timeout=10
    )
    log("connected")
    ack = client.call("auth", {"transaction": "t1", "token": token}, timeout=10)
    if not arrived["auth-success"].wait(10):
        log("fail", why="no auth-success")
        return 1
    log("auth-success", **seen["auth-success"])
    log("ack", **ack)
    time.sleep(stay)
    if disconnected or not client.connected:
        log("fail", why=f"disconnected {disconnected}")
        return 1
    log("stayed", transport=client.transport())
    client.emit("auth", {"transaction": "t2", "token": "not-a-token"})
    if not (arrived["tagged"].wait(10) and arrived["error"].wait(10)):
        log("fail", why="no error events")
        return 1
    log("tagged-error", message=seen["tagged"])
    log("error", **seen["error"])
    client.disconnect()
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
