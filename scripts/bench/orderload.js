// Order creation over REST, closed-loop: each of `connections` customers posts an order
// and posts the next when the answer arrives; with `rate` (orders a second in all), a
// customer waits between orders so that the rate is not exceeded. Node's fetch keeps
// connections alive. The report counts the answers by HTTP status (`statuses`).
//
//   node orderload.js '{"url", "connections", "warmup", "duration", "tokens", "body", "rate"?}'
"use strict";

const { options, Recorder, nowMs, sleep, tokens } = require("./measure");

const recorder = new Recorder();
const body = JSON.stringify(options.body);
const statuses = {};
const period = options.rate ? (1000 * options.connections) / options.rate : 0;

async function customer(token, index) {
  let due = nowMs() + (period * index) / options.connections;
  while (!recorder.stopped) {
    if (period) {
      await sleep(Math.max(0, due - nowMs()));
      due += period;
    }
    const sentAt = nowMs();
    try {
      const response = await fetch(`${options.url}/api/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body,
      });
      await response.arrayBuffer();
      statuses[response.status] = (statuses[response.status] || 0) + 1;
      if (response.ok) recorder.sample(nowMs() - sentAt);
      else recorder.errors++;
    } catch (error) {
      recorder.errors++;
    }
  }
}

async function main() {
  const all = tokens();
  for (let i = 0; i < options.connections; i++) customer(all[i % all.length], i);
  await recorder.window(options.warmup, options.duration);
  recorder.report({ statuses });
  process.exit(0);
}

main();
