// Many idle connections held open; the server's keepalive pings are answered by `ws`.
//
//   node hold.js '{"url", "connections", "hold", "tokens"?, "interval"?, "socketio"?}'
//
// Prints {"event": "open", ...} once every client is connected (and, with tokens, has
// its clicker session), then holds for `hold` seconds and prints {"event": "done", ...}:
// how many are still open, and, with tokens, the passive-income ticks received: the
// fewest any client got, and the largest drift of a client's last tick from its first
// plus one `interval` per tick between them. Waits for a line on stdin before closing, so the caller can
// take its measurements while everything is still connected. With "socketio", the
// connections are socket.io-client 4 sockets over a WebSocket (Engine.IO's heartbeat is
// answered by the client), and "url" is the Socket.IO server's http:// address.
"use strict";

const WebSocket = require("ws");
const { io } = require("socket.io-client");
const { options, nowMs, emit, openAll, sleep, tokens } = require("./measure");

const allTokens = tokens();
let measuring = false;

function openSocketIO() {
  return new Promise((resolve, reject) => {
    const socket = io(options.url, { transports: ["websocket"], reconnection: false, forceNew: true });
    socket.ticks = [];
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

function open(index) {
  if (options.socketio) return openSocketIO();
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, { perMessageDeflate: false });
    socket.ticks = [];
    socket.once("error", reject);
    socket.once("open", () => {
      if (!allTokens.length) return resolve(socket);
      socket.send(
        JSON.stringify({
          message_type: "request",
          request_id: "session",
          request_type: "session",
          data: { token: allTokens[index] },
        }),
      );
      socket.on("message", (data) => {
        const message = JSON.parse(data.toString());
        if (message.request_id === "session") {
          if (message.request_type === "error") reject(new Error(data.toString()));
          else resolve(socket);
        } else if (message.request_id === "" && measuring) {
          socket.ticks.push(nowMs());
        }
      });
    });
  });
}

function drift(ticks) {
  if (ticks.length < 2) return 0;
  const steps = ticks.length - 1; // a missed tick shows as a whole interval of drift
  return Math.abs(ticks[ticks.length - 1] - ticks[0] - steps * options.interval * 1000);
}

async function main() {
  const sockets = await openAll(options.connections, 100, open);
  const held = sockets.filter((socket) => socket !== null);
  emit({ event: "open", connected: held.length, failed: options.connections - held.length });
  measuring = true;
  await sleep(options.hold * 1000);
  measuring = false;
  const ticks = held.map((socket) => socket.ticks.length);
  emit({
    event: "done",
    still_open: held.filter((socket) =>
      options.socketio ? socket.connected : socket.readyState === WebSocket.OPEN,
    ).length,
    min_ticks: ticks.length ? Math.min(...ticks) : 0,
    max_drift_ms: Math.max(0, ...held.map((socket) => drift(socket.ticks))),
  });
  process.stdin.once("data", () => process.exit(0));
}

main();
