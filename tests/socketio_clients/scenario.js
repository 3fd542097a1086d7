// One official socket.io-client against Hearth: connect, auth, ack, errors, heartbeats,
// disconnect. Prints one JSON line per thing seen; exits 0 when every step passed.
//
//   node scenario.js <2|4> <default|websocket> <url> <access token> <stay ms>
"use strict";

const [version, transports, url, token, stayArg] = process.argv.slice(2);
const io = require(version === "2" ? "sio2" : "sio4");
const stay = Number(stayArg);

const options = { reconnection: false, forceNew: true };
if (transports === "websocket") options.transports = ["websocket"];
const socket = io(url, options);

function log(step, data) {
  process.stdout.write(JSON.stringify({ step, ...data }) + "\n");
}

function fail(why) {
  log("fail", { why });
  process.exit(1);
}

function once(event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

const guard = setTimeout(() => fail("timed out"), 20000);
let disconnectedEarly = null;

async function main() {
  await once("connect");
  log("connected", {});
  socket.on("disconnect", (reason) => {
    disconnectedEarly = reason;
  });

  const success = once("auth-success");
  const ack = new Promise((resolve) => socket.emit("auth", { transaction: "t1", token }, resolve));
  log("auth-success", await success);
  log("ack", await ack);

  // Stay through several heartbeats; a missed one would disconnect us.
  await new Promise((resolve) => setTimeout(resolve, stay));
  if (disconnectedEarly) fail(`disconnected: ${disconnectedEarly}`);
  log("stayed", { transport: socket.io.engine.transport.name });

  const tagged = once("socket-api-error-t2");
  const general = once("socket-api-error");
  socket.emit("auth", { transaction: "t2", token: "expired-or-not-a-token" });
  log("tagged-error", { message: await tagged });
  log("error", await general);

  socket.disconnect();
  clearTimeout(guard);
  log("done", {});
}

main().catch((error) => fail(String(error)));
