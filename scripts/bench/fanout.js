// Fan-out: `members` clients in one room; a message one of them sends reaches all of them.
//
//   node fanout.js '{"url", "members", "rounds", "burst"}'
//
// Rounds: one member (a different one each round) sends `chatMessage/bench-<n>`; the
// round ends when every member has received a frame carrying `bench-<n>`; its time is
// from the send to the last delivery. Burst: `burst` members send one message each at
// once; deliveries/s = members x burst / time until the last delivery. Frames that do
// not carry a marker (Hearth's join announcements) are ignored; the rounds start once
// none has arrived for half a second.
"use strict";

const WebSocket = require("ws");
const { options, sleep, nowMs, percentile, emit, openMembers } = require("./measure");

const QUIET_MS = 500;
const expected = new Map(); // marker -> deliveries still to come
let waiting = null;
let lastFrameAt = nowMs();

function open() {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, { perMessageDeflate: false });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
    socket.on("message", (data) => {
      lastFrameAt = nowMs();
      const match = /bench-(\d+)/.exec(data.toString());
      if (!match || !expected.has(match[1])) return;
      const left = expected.get(match[1]) - 1;
      expected.set(match[1], left);
      if (left === 0) expected.delete(match[1]);
      if (expected.size === 0 && waiting) waiting();
    });
  });
}

// Send the markers from the given members; resolve with ms until every delivery arrived.
function publish(senders, first) {
  const started = nowMs();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deliveries missing: ${[...expected.values()]}`)), 30000);
    waiting = () => {
      clearTimeout(timer);
      waiting = null;
      resolve(nowMs() - started);
    };
    senders.forEach((socket, n) => {
      expected.set(String(first + n), options.members);
    });
    senders.forEach((socket, n) => socket.send(`chatMessage/bench-${first + n}`));
  });
}

async function main() {
  const members = await openMembers(options.members, open);
  // Let the join announcements drain: the first round must find everyone in the room.
  while (nowMs() - lastFrameAt < QUIET_MS) await sleep(QUIET_MS);
  const rounds = [];
  let marker = 0;
  for (let n = 0; n < options.rounds; n++) {
    rounds.push(await publish([members[n % members.length]], marker++));
  }
  const burstSenders = members.slice(options.rounds, options.rounds + options.burst);
  const burstMs = await publish(burstSenders, marker);
  rounds.sort((a, b) => a - b);
  emit({
    round_p50_ms: percentile(rounds, 0.5),
    round_p99_ms: percentile(rounds, 0.99),
    burst_deliveries: options.members * burstSenders.length,
    burst_ms: burstMs,
    deliveries_per_second: (options.members * burstSenders.length) / (burstMs / 1000),
  });
  process.exit(0);
}

main().catch((error) => {
  emit({ error: String(error) });
  process.exit(1);
});
