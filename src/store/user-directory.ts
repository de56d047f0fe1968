import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

/** Who wrote an event, as its record names them (EventTableRow.actorDisplayName / actorEmail). */
export interface Author {
  name: string;
  email: string | null;
}

/** Events the system writes by itself (inbound messages, keyword replies, warmup) name this author. */
export const SYSTEM_AUTHOR_ID = "system";
const SYSTEM_AUTHOR: Author = { name: "System", email: null };

/** How many users the directory remembers before it starts over (a bound, not a tuning knob). */
const MAX_CACHED = 10_000;

/**
 * The authors of events, by the id events keep (`created_by`), read once per process: a user's name
 * and email never change in leadtrail (no endpoint edits a user), so a cached entry cannot go stale,
 * and reading an event costs a map lookup rather than a join on its hot path.
 */
export class UserDirectory {
  private readonly cache = new Map<string, Author | null>();

  constructor(private readonly db: Kysely<Database>) {}

  /** The author of each id (null for an id that is no user of the organization). */
  async authors(organizationId: string, ids: Iterable<string>): Promise<Map<string, Author | null>> {
    const found = new Map<string, Author | null>();
    const missing: string[] = [];
    for (const id of ids) {
      if (found.has(id)) continue;
      if (id === SYSTEM_AUTHOR_ID) found.set(id, SYSTEM_AUTHOR);
      else if (!id.startsWith("usr_")) found.set(id, null);
      else {
        const cached = this.cache.get(`${organizationId}\n${id}`);
        if (cached === undefined) missing.push(id);
        else found.set(id, cached);
      }
    }
    if (missing.length > 0) {
      const rows = await this.db
        .selectFrom("users")
        .select(["id", "name", "email"])
        .where("organization_id", "=", organizationId)
        .where("id", "in", missing)
        .execute();
      const byId = new Map(rows.map((r) => [r.id, { name: r.name, email: r.email }]));
      if (this.cache.size + missing.length > MAX_CACHED) this.cache.clear();
      for (const id of missing) {
        const author = byId.get(id) ?? null;
        // Only users found are remembered: an id not found yet may be a user created since.
        if (author) this.cache.set(`${organizationId}\n${id}`, author);
        found.set(id, author);
      }
    }
    return found;
  }

  async author(organizationId: string, id: string): Promise<Author | null> {
    return (await this.authors(organizationId, [id])).get(id) ?? null;
  }
}
