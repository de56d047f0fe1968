import type pg from "pg";
import type { Connection } from "./database.js";
import { EVENT_COLUMNS } from "./events-repo.js";
import type { EventRow } from "./schema.js";

export type EventByIdReader = (organizationId: string, id: string) => Promise<EventRow | undefined>;

/**
 * An EventRow from a positional result row (columns in EVENT_COLUMNS order). Both drivers build a
 * result object one property at a time, which for this 60-column row costs more than the primary-key
 * lookup itself; an object literal of one fixed shape, compiled once from the column names (our own
 * constants, never input), costs a fraction of that.
 */
const eventRowFromArray = new Function(
  "a",
  `return { ${EVENT_COLUMNS.map((name, i) => `${name}: a[${i}]`).join(", ")} };`,
) as (values: unknown[]) => EventRow;

const ID_POSITION = EVENT_COLUMNS.indexOf("id");
const SELECT = `select ${EVENT_COLUMNS.join(", ")} from events`;

/**
 * The hottest read of the API (GET /events/{id}). On SQLite, a primary-key lookup through a statement
 * prepared once, read as an array. On PostgreSQL, lookups are coalesced (see CoalescingEventReader).
 */
export function eventByIdReader(conn: Connection): EventByIdReader {
  if (conn.engine === "sqlite") {
    const statement = conn.raw.prepare(`${SELECT} where organization_id = ? and id = ?`).raw(true);
    return async (organizationId, id) => {
      const values = statement.get(organizationId, id) as unknown[] | undefined;
      return values && eventRowFromArray(values);
    };
  }
  const reader = new CoalescingEventReader(conn.raw);
  return (organizationId, id) => reader.read(organizationId, id);
}

interface Lookup {
  organizationId: string;
  id: string;
  resolve: (row: EventRow | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Primary-key reads of events on PostgreSQL, coalesced. A lookup starts its query at once while fewer
 * than `maxInFlight` of these queries are out (so at low load nothing waits); beyond that it waits,
 * and when a query returns, every waiting lookup of one organization goes out together in one query
 * (`id = any($2)`). Under load one round trip, one plan and one backend wake-up then answer many
 * requests: those, not the row itself, are what a PostgreSQL lookup costs (bench/RESULTS.md).
 */
export class CoalescingEventReader {
  private inFlight = 0;
  private waiting: Lookup[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 100,
  ) {}

  read(organizationId: string, id: string): Promise<EventRow | undefined> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ organizationId, id, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const organizationId = this.waiting[0]!.organizationId;
      const batch: Lookup[] = [];
      const rest: Lookup[] = [];
      for (const lookup of this.waiting) {
        const joins = lookup.organizationId === organizationId && batch.length < this.maxBatch;
        (joins ? batch : rest).push(lookup);
      }
      this.waiting = rest;
      this.inFlight++;
      void this.query(organizationId, batch).finally(() => {
        this.inFlight--;
        this.dispatch();
      });
    }
  }

  private async query(organizationId: string, batch: Lookup[]): Promise<void> {
    try {
      const ids = [...new Set(batch.map((lookup) => lookup.id))];
      const result = await this.pool.query<unknown[]>({
        name: "events_by_ids",
        text: `${SELECT} where organization_id = $1 and id = any($2::text[])`,
        values: [organizationId, ids],
        rowMode: "array",
      });
      const found = new Map(result.rows.map((values) => [values[ID_POSITION] as string, values]));
      for (const lookup of batch) {
        const values = found.get(lookup.id);
        lookup.resolve(values && eventRowFromArray(values));
      }
    } catch (error) {
      for (const lookup of batch) lookup.reject(error);
    }
  }
}
