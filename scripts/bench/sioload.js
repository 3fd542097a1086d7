// Socket.IO round trips (socket.io-client 4, websocket transport): each of `connections`
// clients emits with an acknowledgement and emits again when the ack arrives; with `rate`
// (emits a second in all), no sooner than its turn comes. The report counts the sessions
// that ended before the end, by reason (`disconnects`).
//
//   node sioload.js '{"url", "mode", "connections", "warmup", "duration", "rate"?}'
//
// mode "echo": emit `echo` with a small object; the peer acks it back.
// mode "profile": Hearth's garage; `register` a player, then `profile {token}` in a loop.
"use strict";

const { io } = require("socket.io-client");
const { options, Recorder, nowMs, openAll } = require("./measure");

const recorder = new Recorder();
const disconnects = {};
const period = options.rate ? (1000 * options.connections) / options.rate : 0;

function open() {
  return new Promise((resolve, reject) => {
    const socket = io(options.url, { transports: ["websocket"], reconnection: false, forceNew: true });
    socket.once("connect", () => resolve(socket));
    socket.on("disconnect", (reason) => {
      if (!recorder.stopped) disconnects[reason] = (disconnects[reason] || 0) + 1;
    });
    socket.once("connect_error", reject);
  });
}

async function request(socket) {
  if (options.mode === "echo") return ["echo", { token: "x".repeat(43) }];
  if (!socket.garageToken) {
    const answer = await socket.timeout(10000).emitWithAck("register", { device: "iOS" });
    socket.garageToken = answer.user.token;
  }
  return ["profile", { token: socket.garageToken }];
}

function drive(socket, [event, data], index) {
  let due = nowMs() + (period * index) / options.connections;
  const send = () => {
    if (recorder.stopped) return;
    const sentAt = nowMs();
    due += period;
    socket.emit(event, data, (answer) => {
      if (answer && answer._error !== undefined) recorder.errors++;
      else recorder.sample(nowMs() - sentAt);
      setTimeout(send, Math.max(0, due - nowMs()));
    });
  };
  setTimeout(send, Math.max(0, due - nowMs()));
}

async function main() {
  const sockets = await openAll(options.connections, 50, open);
  await Promise.all(
    sockets.map(async (socket, index) => {
      if (socket === null) {
        recorder.errors++;
        return;
      }
      drive(socket, await request(socket), index);
    }),
  );
  await recorder.window(options.warmup, options.duration);
  recorder.report({ disconnects });
  process.exit(0);
}

main();
