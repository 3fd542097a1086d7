// Drives Hearth's garage as the original's clients did: socket.io-client 2, websocket only.
// Prints one JSON line per event received, in order; exits 0 when every step got its events.
//
//   node driver.js <url> <steps.json>
// steps: {"emit": name, "data": {...}, "expect": n}: emit, then wait for n events;
//        {"burst": name, "data": {...}, "count": n, "sockets": k}: n emits spread over k
//        fresh sockets at once, waiting for the n answers.
"use strict";

const fs = require("fs");
const io = require("sio2");

const [url, stepsFile] = process.argv.slice(2);
const steps = JSON.parse(fs.readFileSync(stepsFile, "utf8"));
const received = [];
let waiter = null;

function connect() {
  const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
  const onevent = socket.onevent;
  socket.onevent = function (packet) {
    const [event, data] = packet.data || [];
    received.push({ event, data });
    if (waiter) waiter();
    onevent.call(this, packet);
  };
  return new Promise((resolve, reject) => {
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", reject);
  });
}

function until(count) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waited for ${count} events, got ${received.length}`)), 10000);
    const check = () => {
      if (received.length >= count) {
        clearTimeout(timer);
        waiter = null;
        resolve();
      }
    };
    waiter = check;
    check();
  });
}

async function main() {
  const socket = await connect();
  let expected = 0;
  for (const step of steps) {
    if (step.emit) {
      expected += step.expect;
      socket.emit(step.emit, step.data);
    } else {
      const sockets = await Promise.all(Array.from({ length: step.sockets }, connect));
      expected += step.count;
      for (let n = 0; n < step.count; n++) sockets[n % sockets.length].emit(step.burst, step.data);
      await until(expected);
      sockets.forEach((s) => s.disconnect());
    }
    await until(expected);
  }
  for (const event of received) process.stdout.write(JSON.stringify(event) + "\n");
  socket.disconnect();
  process.exit(0);
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ event: "driver-failed", data: String(error) }) + "\n");
  for (const event of received) process.stdout.write(JSON.stringify(event) + "\n");
  process.exit(1);
});
