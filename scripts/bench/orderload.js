// Order creation over REST, closed-loop: each of `connections` customers posts an order
// and posts the next when the answer arrives. Node's fetch keeps connections alive.
//
//   node orderload.js '{"url", "connections", "warmup", "duration", "tokens", "body"}'
"use strict";

const { options, Recorder, nowMs, tokens } = require("./measure");

const recorder = new Recorder();
const body = JSON.stringify(options.body);

async function customer(token) {
  while (!recorder.stopped) {
    const sentAt = nowMs();
    try {
      const response = await fetch(`${options.url}/api/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body,
      });
      await response.arrayBuffer();
      if (response.ok) recorder.sample(nowMs() - sentAt);
      else recorder.errors++;
    } catch (error) {
      recorder.errors++;
    }
  }
}

async function main() {
  const all = tokens();
  for (let i = 0; i < options.connections; i++) customer(all[i % all.length]);
  await recorder.window(options.warmup, options.duration);
  recorder.report();
  process.exit(0);
}

main();
