// WebSocket round trips from `connections` clients, closed-loop (each sends its next
// request when the answer arrives) or, with `rate`, open-loop at that many requests a
// second in all, spread evenly over the clients.
//
//   node wsload.js '{"url", "mode", "connections", "warmup", "duration", "tokens"?, "rate"?}'
//
// mode "echo": a frame the size of a cook request, answered by the same frame.
// mode "cook": Hearth's clicker; `session`, buy the sandwich, then `cook` in a loop.
// mode "buy": Hearth's clicker; `session`, then `upgrade_buy` in a loop, taking the
//   repeatable upgrades of `upgrades` in turn (each buy a durable commit that debits
//   the balance); one that has grown too dear is dropped from the turn ("refused"),
//   and a client with none left stops.
//
// The report counts closes by code (`closes`), whenever they happen before the end.
"use strict";

const WebSocket = require("ws");
const { options, Recorder, nowMs, openAll, tokens } = require("./measure");

const recorder = new Recorder();
const allTokens = tokens();
const REPEATED = { echo: "cook", cook: "cook", buy: "upgrade_buy" }[options.mode];
const SETUP = { echo: [], cook: ["session", ["upgrade_buy", { id: 1 }]], buy: ["session"] }[options.mode];

function frame(type, token, id, data) {
  return JSON.stringify({
    message_type: "request",
    request_id: String(id),
    request_type: type,
    data: { token, ...data },
  });
}

function open(index) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, { perMessageDeflate: false });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
  });
}

// Send the setup requests one by one, each after the previous answer.
function setUp(socket, token) {
  return new Promise((resolve) => {
    const steps = SETUP.map((step, n) => (typeof step === "string" ? [step, {}] : step));
    let n = 0;
    const next = () => {
      if (n === steps.length) {
        socket.off("message", next);
        resolve();
        return;
      }
      const [type, data] = steps[n++];
      socket.send(frame(type, token, `setup${n}`, data));
    };
    socket.on("message", next);
    next();
  });
}

let refused = 0;
const closes = {};

function drive(socket, token, index) {
  const sentAt = new Map();
  const upgrades = [...(options.upgrades || [])];
  let next = 1;
  const send = () => {
    if (recorder.stopped || (options.mode === "buy" && upgrades.length === 0)) return;
    const id = next++;
    const upgrade = upgrades[id % upgrades.length];
    sentAt.set(String(id), { at: nowMs(), upgrade });
    socket.send(frame(REPEATED, token, id, options.mode === "buy" ? { id: upgrade } : {}));
  };
  socket.on("message", (data) => {
    const now = nowMs();
    const message = JSON.parse(data.toString());
    const sent = sentAt.get(message.request_id);
    if (sent === undefined) return; // a push, not an answer
    sentAt.delete(message.request_id);
    const error = message.request_type === "error" ? message.data.message : null;
    if (error && error.startsWith("not enough money")) {
      refused++;
      const at = upgrades.indexOf(sent.upgrade);
      if (at >= 0) upgrades.splice(at, 1);
    } else if (error) recorder.errors++;
    else recorder.sample(now - sent.at);
    if (!options.rate) send();
  });
  socket.on("error", () => recorder.errors++);
  socket.on("close", (code) => {
    if (!recorder.stopped) closes[code] = (closes[code] || 0) + 1;
  });
  if (!options.rate) {
    send();
    return;
  }
  // Open loop: this client's requests go out every `period` ms, whatever the answers do.
  const period = (1000 * options.connections) / options.rate;
  const start = nowMs() + (period * index) / options.connections;
  let k = 0;
  const tick = () => {
    if (recorder.stopped) return;
    send();
    k++;
    setTimeout(tick, Math.max(0, start + k * period - nowMs()));
  };
  setTimeout(tick, Math.max(0, start - nowMs()));
}

async function main() {
  const sockets = await openAll(options.connections, 50, open);
  await Promise.all(
    sockets.map(async (socket, i) => {
      if (socket === null) {
        recorder.errors++;
        return;
      }
      const token = allTokens[i % Math.max(allTokens.length, 1)] || "";
      await setUp(socket, token);
      drive(socket, token, i);
    }),
  );
  await recorder.window(options.warmup, options.duration);
  recorder.report({ refused, closes });
  process.exit(0);
}

main();
