// The primary-key read of GET /events/{id} on its own, through better-sqlite3, at random ids of the
// seeded 1,000,000-event SQLite file: CPU per lookup (user and system) for `select *` as objects, all
// columns as arrays (what leadtrail does), and the id alone (the b-tree descent without the row).
//
//   node --import tsx bench/sqlite-lookup.ts [--events 1000000] [--lookups 100000]
//
// Run bench/seed.ts (or any benchmark that seeds) first. CACHE=-65536 sets the page cache (KiB).
import Database from "better-sqlite3";
import { EVENT_COLUMNS } from "../src/store/events-repo.js";
import { intFlag, parseFlags, target } from "./lib.js";

const flags = parseFlags();
const lookups = intFlag(flags.values, "lookups", 100_000);
const file = target("sqlite", flags.events).env.LEADTRAIL_DB as string;
const db = new Database(file, { readonly: true, fileMustExist: true });
if (process.env.CACHE) db.pragma(`cache_size = ${process.env.CACHE}`);
const ids = db
  .prepare("select organization_id, id from events order by random() limit 50000")
  .raw(true)
  .all() as [string, string][];
const where = "from events where organization_id = ? and id = ?";
const variants = {
  "select * (objects)": db.prepare(`select * ${where}`),
  "all columns (arrays)": db.prepare(`select ${EVENT_COLUMNS.join(", ")} ${where}`).raw(true),
  "id only": db.prepare(`select id ${where}`).raw(true),
};
console.log(`${file}: ${lookups} lookups at random ids of ${ids.length} sampled`);
for (const round of [1, 2]) {
  for (const [name, statement] of Object.entries(variants)) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < lookups; i++) {
      const [organizationId, id] = ids[(i * 7919) % ids.length]!;
      statement.get(organizationId, id);
    }
    const used = process.cpuUsage(cpu);
    const wall = ((performance.now() - started) * 1000) / lookups;
    console.log(
      `round ${round}  ${name.padEnd(22)} ${wall.toFixed(1)} µs wall  ${(used.user / lookups).toFixed(1)} µs user  ${(used.system / lookups).toFixed(1)} µs sys`,
    );
  }
}
