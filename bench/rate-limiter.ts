// The failed-authentication limiter at capacity: 10,000 client addresses remembered, every one busy,
// and a stream of new addresses (a client rotating addresses, or a crowd). CPU per new address, which
// each request from a new address pays before its key is looked at. In-process: no server.
//
//   node --import tsx bench/rate-limiter.ts [--addresses 50000]
import { RateLimiter } from "../src/http/rate-limit.js";
import { intFlag, parseFlags } from "./lib.js";

const flags = parseFlags();
const addresses = intFlag(flags.values, "addresses", 50_000);
// As FailedAuthenticationGuard builds it: 60 per minute, one-second slots, 10,000 addresses.
const limiter = new RateLimiter(
  60,
  60_000,
  { who: "This client address", what: "failed authentications" },
  60,
  10_000,
);
let now = Date.UTC(2026, 0, 1);
for (let i = 0; i < 10_000; i++) limiter.hit(`busy-${i}`, now);
// New addresses 0.1 ms apart (5 s in all for 50,000): the once-per-slot scan for idle ones is counted.
const started = process.hrtime.bigint();
const cpuStarted = process.cpuUsage();
for (let i = 0; i < addresses; i++) {
  now += 0.1;
  limiter.hit(`new-${i}`, now);
}
const wallUs = Number(process.hrtime.bigint() - started) / 1e3;
const cpu = process.cpuUsage(cpuStarted);
console.log(
  `${addresses} new addresses at capacity: ${(wallUs / addresses).toFixed(2)} µs each (wall), ` +
    `${((cpu.user + cpu.system) / addresses).toFixed(2)} µs CPU each`,
);
