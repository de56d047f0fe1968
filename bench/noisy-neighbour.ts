// One organization's burst of searches against another organization's requests, on a running server:
// ten loops post a search that matches nothing (with includeCount) as organization A, as fast as the
// server answers, while organization B asks for its wallet every 100 ms. Reports A's searches and
// B's latency (p50 / p95 / max, ms). Start the server first, e.g. on a bench-seed database:
//
//   PORT=47803 LEADTRAIL_RATE_LIMIT_PER_MINUTE=100000 node dist/cli/main.js serve
//   node --import tsx bench/noisy-neighbour.ts --base http://127.0.0.1:47803 --key-a sk_… --key-b sk_…
//     [--seconds 20] [--loops 10]
//
// The client runs in this process, a second one from the server's.

const flags = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  flags.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1]!);
const required = (name: string): string => {
  const value = flags.get(name);
  if (!value) throw new Error(`--${name} is required`);
  return value;
};
const base = required("base");
const keyA = required("key-a");
const keyB = required("key-b");
const seconds = Number(flags.get("seconds") ?? 20);
const loops = Number(flags.get("loops") ?? 10);

const end = Date.now() + seconds * 1000;
let searches = 0;
const burst = Array.from({ length: loops }, async (_, i) => {
  while (Date.now() < end) {
    const res = await fetch(`${base}/events/all/my`, {
      method: "POST",
      headers: { Authorization: `Bearer ${keyA}`, "content-type": "application/json" },
      body: JSON.stringify({ search: `zzqq-nomatch-${i}`, includeCount: true }),
    });
    await res.arrayBuffer();
    searches++;
  }
});
const latencies: number[] = [];
const probe = (async () => {
  while (Date.now() < end) {
    const started = performance.now();
    const res = await fetch(`${base}/wallets/me`, { headers: { Authorization: `Bearer ${keyB}` } });
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
})();
await Promise.all([...burst, probe]);
latencies.sort((a, b) => a - b);
const at = (p: number) =>
  Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1));
console.log(JSON.stringify({ searches, probes: latencies.length, p50: at(0.5), p95: at(0.95), max: at(1) }));
