// Closed-loop WebSocket load: each connection sends one request, waits for its
// answer, and sends the next. Prints one JSON line of results on stdout.
//
//   node loadgen.js <url> <mode> <connections> <warmup s> <duration s> [tokens.json]
//
// mode "clicker": each connection (token i) sends `session`, buys the sandwich,
//   then cooks in a loop; the round trip is one `cook` and its response.
// mode "echo": each connection sends a frame of the same size as a cook request
//   and waits for it to come back.
"use strict";

const fs = require("fs");
const WebSocket = require("ws");

const [url, mode, connectionsArg, warmupArg, durationArg, tokensFile] = process.argv.slice(2);
const connections = Number(connectionsArg);
const warmupMs = Number(warmupArg) * 1000;
const durationMs = Number(durationArg) * 1000;
const tokens = tokensFile ? JSON.parse(fs.readFileSync(tokensFile, "utf8")) : [];

const latencies = [];
let errors = 0;
let measuring = false;
let stopped = false;

function request(type, token, id, data) {
  return JSON.stringify({
    message_type: "request",
    request_id: String(id),
    request_type: type,
    data: { token, ...data },
  });
}

function client(index) {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const token = tokens[index % Math.max(tokens.length, 1)] || "";
    let next = 1;
    let sentAt = 0n;
    let setup = mode === "clicker" ? ["session", "upgrade_buy"] : [];

    const send = () => {
      if (stopped) {
        socket.close();
        return;
      }
      const id = next++;
      let frame;
      if (setup.length > 0) {
        const type = setup.shift();
        frame = request(type, token, id, type === "upgrade_buy" ? { id: 1 } : {});
      } else {
        frame = request("cook", token, id, {});
      }
      sentAt = process.hrtime.bigint();
      socket.send(frame);
    };

    socket.on("open", send);
    socket.on("message", (data) => {
      const now = process.hrtime.bigint();
      if (mode === "clicker" && data.toString().includes('"request_type":"error"')) {
        errors++;
      } else if (measuring && setup.length === 0) {
        latencies.push(Number(now - sentAt) / 1e6);
      }
      send();
    });
    socket.on("error", () => {
      errors++;
    });
    socket.on("close", resolve);
  });
}

async function main() {
  const done = [];
  for (let i = 0; i < connections; i++) done.push(client(i));
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  stopped = true;
  await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 5000))]);
  latencies.sort((a, b) => a - b);
  const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : null);
  process.stdout.write(
    JSON.stringify({
      round_trips: latencies.length,
      seconds,
      per_second: latencies.length / seconds,
      p50_ms: at(0.5),
      p99_ms: at(0.99),
      errors,
    }) + "\n",
  );
  process.exit(0);
}

main();
