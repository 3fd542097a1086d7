// What every load generator shares: options from argv, a warm-up and a measured window,
// latency percentiles, and the one JSON line of results on stdout.
"use strict";

const options = JSON.parse(process.argv[2] || "{}");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
}

class Recorder {
  constructor() {
    this.latencies = [];
    this.errors = 0;
    this.measuring = false;
    this.stopped = false;
    this.seconds = 0;
  }

  // One answered request, `ms` after it was sent; counted only inside the window.
  sample(ms) {
    if (this.measuring) this.latencies.push(ms);
  }

  // Marks the window's start and end on stdout ({"event": "measuring"}, then
  // {"event": "measured"}), so that the caller can read the server's CPU time over it.
  async window(warmupSeconds, durationSeconds) {
    await sleep(warmupSeconds * 1000);
    emit({ event: "measuring" });
    this.measuring = true;
    const started = nowMs();
    await sleep(durationSeconds * 1000);
    this.measuring = false;
    this.seconds = (nowMs() - started) / 1000;
    this.stopped = true;
    emit({ event: "measured" });
  }

  report(extra = {}) {
    const sorted = this.latencies.sort((a, b) => a - b);
    emit({
      count: sorted.length,
      seconds: this.seconds,
      per_second: sorted.length / (this.seconds || 1),
      p50_ms: percentile(sorted, 0.5),
      p99_ms: percentile(sorted, 0.99),
      errors: this.errors,
      ...extra,
    });
  }
}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

// Open `count` clients with at most `batch` handshakes in flight; `open(i)` resolves
// with the client or rejects. Resolves with the clients that opened (nulls for failures).
async function openAll(count, batch, open) {
  const clients = new Array(count).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        clients[i] = await open(i);
      } catch (error) {
        clients[i] = null;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(batch, count) }, worker));
  return clients;
}

// Every one of `count` members open, or the run ends here with an error line.
async function openMembers(count, open) {
  const members = (await openAll(count, 50, open)).filter((socket) => socket !== null);
  if (members.length < count) {
    emit({ error: `only ${members.length} of ${count} members connected` });
    process.exit(1);
  }
  return members;
}

function tokens() {
  return options.tokens ? JSON.parse(require("fs").readFileSync(options.tokens, "utf8")) : [];
}

module.exports = {
  options,
  sleep,
  nowMs,
  percentile,
  Recorder,
  emit,
  openAll,
  openMembers,
  tokens,
};
