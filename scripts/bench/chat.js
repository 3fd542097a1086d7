// A busy parties chat: `members` clients in one event, each sending `rate` chat messages a
// second (the server allows 2 a second per connection after a burst of 5), every message
// delivered to every member.
//
//   node chat.js '{"url", "members", "rate", "warmup", "duration", "padding"?}'
//
// Counts, in the measured window, the deliveries of this run's messages (frames carrying a
// `soak-<member>-<n>` marker; join announcements and other frames are not counted) and the
// messages sent, so deliveries/s can be set against the deliveries expected
// (sent x members). Closes are tallied by code whenever they happen (a healthy member is
// never closed: any close is a failure of the run). `padding` characters make each message
// bigger, so a client that stops reading fills its buffers sooner.
"use strict";

const WebSocket = require("ws");
const { options, sleep, nowMs, emit, openMembers } = require("./measure");

const padding = "x".repeat(options.padding || 0);
const closes = {};
let measuring = false;
let stopped = false;
let delivered = 0;
let sent = 0;
let sendErrors = 0;

function open(index) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, { perMessageDeflate: false });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
    socket.on("message", (data) => {
      if (measuring && data.toString().includes("soak-")) delivered++;
    });
    socket.on("close", (code) => {
      if (!stopped) closes[code] = (closes[code] || 0) + 1;
    });
  });
}

function drive(socket, index) {
  const period = 1000 / options.rate;
  let n = 0;
  const start = nowMs() + (period * index) / options.members; // spread the members out
  const tick = () => {
    if (stopped) return;
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(`chatMessage/soak-${index}-${n} ${padding}`);
      if (measuring) sent++;
    } else sendErrors++;
    n++;
    setTimeout(tick, Math.max(0, start + n * period - nowMs()));
  };
  setTimeout(tick, Math.max(0, start - nowMs()));
}

async function main() {
  const members = await openMembers(options.members, open);
  members.forEach(drive);
  await sleep(options.warmup * 1000);
  measuring = true;
  const started = nowMs();
  await sleep(options.duration * 1000);
  const seconds = (nowMs() - started) / 1000;
  // Messages sent at the very end are still on their way: give them a moment, uncounted
  // as sent, so that deliveries are not short of the messages counted.
  stopped = true;
  await sleep(1000);
  measuring = false;
  emit({
    members: members.length,
    seconds,
    sent,
    delivered,
    expected: sent * members.length,
    deliveries_per_second: delivered / seconds,
    still_open: members.filter((socket) => socket.readyState === WebSocket.OPEN).length,
    send_errors: sendErrors,
    closes,
  });
  process.exit(0);
}

main().catch((error) => {
  emit({ error: String(error) });
  process.exit(1);
});
