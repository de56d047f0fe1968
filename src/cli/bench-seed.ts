import type { Database as SqliteDatabase, Statement as SqliteStatement } from "better-sqlite3";
import { SingleBar } from "cli-progress";
import { ACTIVITY_CATEGORY, type ActivityType } from "../domain/event-vocabulary.js";
import { newId } from "../domain/ids.js";
import { EVENT_COLUMNS, type NewEvent, newEventRow } from "../store/events-repo.js";
import { snippetOf } from "../store/leads-repo.js";
import { createOrganization } from "../store/orgs-repo.js";
import type { ConversationRow, EventRow, LeadRow } from "../store/schema.js";
import type { Store } from "../store/store.js";

// Bulk data for benchmarks: one new organization with N realistic events over many leads and
// conversations (varied activity types, statuses, directions), written in large multi-row inserts.

const EVENTS_PER_LEAD = 25;
const FIRST = [
  "Maria",
  "James",
  "Aisha",
  "Tom",
  "Priya",
  "Daniel",
  "Sofia",
  "Ethan",
  "Grace",
  "Omar",
  "Lena",
  "Victor",
];
const LAST = [
  "Gonzalez",
  "Carter",
  "Khan",
  "Nguyen",
  "Patel",
  "Okafor",
  "Rossi",
  "Brooks",
  "Kim",
  "Haddad",
  "Weber",
];
const AREA = ["415", "212", "312", "206", "512", "617", "303", "602", "305", "404"];
const SOURCES = ["facebook-ads", "google-search", "partner-feed", "website-form"];
const OUTBOUND = [
  "Delivered",
  "Delivered",
  "Delivered",
  "Sent",
  "Undeliverable",
  "Failed",
  "Blocked",
  "Scheduled",
  "Canceled",
];
const TEXTS = [
  "Hi {n}, this is Alex with Summit Insurance — thanks for your request! Is now a good time for a quick quote?",
  "Following up on your quote, {n}. Reply YES and I'll call you in 5 minutes.",
  "{n}, your solar savings estimate is ready. Want me to text it over?",
];

interface Seeded {
  organizationId: string;
  apiKey: string;
  seconds: number;
}

/** Deterministic pseudo-random numbers, so two runs seed the same shape of data. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * The phone number of the index-th seeded lead: each lead its own number (for the first 100,000
 * leads, a 2,500,000-event seed), in 555 exchanges of ten area codes, given out in runs of 1,000 per
 * area code. Within an area code the numbers ascend, so a run's messages enter the two phone indexes
 * (migration 0010) at one place beside the business number's rather than at ten. In an A/B of
 * three runs each (bench/RESULTS.md, thirteenth session) the earlier numbers, which cycled through
 * the ten area codes lead by lead and came round again every 9,000 leads, seeded 93–96k events/s,
 * and these 108–111k.
 */
export function benchLeadPhone(index: number): string {
  const run = Math.floor(index / 1000);
  const line = (Math.floor(run / AREA.length) * 1000 + (index % 1000)) % 10_000;
  return `+1${AREA[run % AREA.length]}555${String(line).padStart(4, "0")}`;
}

function makeLead(organizationId: string, userId: string, index: number, at: number, random: () => number) {
  const first = FIRST[index % FIRST.length]!;
  const last = LAST[Math.floor(random() * LAST.length)]!;
  const phone = benchLeadPhone(index);
  const source = SOURCES[index % SOURCES.length]!;
  const lead: LeadRow = {
    organization_id: organizationId,
    id: newId("lead", at),
    first_name: first,
    last_name: last,
    phone,
    email: `${first}.${last}${index}@example.com`.toLowerCase(),
    enabled: 1,
    source_id: source,
    price_micros: 15_000_000,
    document: JSON.stringify({
      metadata: { utmSource: source },
      contact: { firstName: first, lastName: last, phone: { number: phone } },
      customer: {},
      enabled: true,
      tagIds: [],
      tagNames: [],
    }),
    created_at: at,
    updated_at: at,
    created_by: userId,
    intake_key: null,
  };
  const conversation: ConversationRow = {
    organization_id: organizationId,
    id: newId("conv", at),
    lead_id: lead.id,
    lead_phone: phone,
    last_snippet: null,
    last_event_at: at,
    last_event_is_internal_note: 0,
    created_at: at,
    override_phone_number_id: null,
    last_phone_number_id: null,
    inbound_count: 0,
    last_inbound_event_id: null,
    last_event_id: null,
  };
  return { lead, conversation };
}

// Event rows are built from per-variant templates (positional arrays) and patched per event: no
// per-event object with fifty properties, which is what made seeding allocation-bound.
const column = (name: keyof EventRow) => EVENT_COLUMNS.indexOf(name);
const C = {
  id: column("id"),
  org: column("organization_id"),
  lead: column("lead_id"),
  conversation: column("conversation_id"),
  source: column("source_id"),
  createdAt: column("created_at"),
  createdBy: column("created_by"),
  summary: column("summary"),
  status: column("status"),
  description: column("description"),
  from: column("from_phone_number"),
  to: column("to_phone_number"),
  relatedId: column("related_entity_id"),
};
const TIMESTAMP_COLUMNS = EVENT_COLUMNS.flatMap((name, i) =>
  name.endsWith("_at") && name !== "created_at" && name !== "modified_at" ? [i] : [],
).concat([column("scheduled_for")]);

/** The columns makeEvent sets per event; every other column is the template's constant. */
const PER_EVENT = [
  C.id,
  C.org,
  C.lead,
  C.conversation,
  C.source,
  C.createdAt,
  C.createdBy,
  C.summary,
  C.relatedId,
  C.from,
  C.to,
];

interface EventTemplate {
  values: unknown[];
  /** Timestamp columns set in the template, stored as offsets from the event's creation time. */
  offsets: number[];
  /** Columns that differ between events of this template (PER_EVENT and the offsets), ascending. */
  perEvent: number[];
}

function template(input: Omit<NewEvent, "organization_id" | "created_by">): EventTemplate {
  const row = newEventRow({ ...input, organization_id: "", created_by: "" }, 0);
  const values = EVENT_COLUMNS.map((name) => row[name as keyof EventRow]);
  const offsets = TIMESTAMP_COLUMNS.filter((i) => values[i] !== null);
  return { values, offsets, perEvent: [...new Set([...PER_EVENT, ...offsets])].sort((a, b) => a - b) };
}

const activity = (type: ActivityType) => ({
  activity_type: type,
  activity_category: ACTIVITY_CATEGORY[type],
});

function outboundTemplate(status: string): EventTemplate {
  const sent = ["Delivered", "Sent", "Undeliverable"].includes(status);
  return template({
    ...activity("Sms"),
    event_type: "SmsOutbound",
    event_category: "Messaging",
    description: "Outbound SMS.",
    direction: "outbound",
    status,
    traffic_type: "RealLead",
    from_phone_number_id: "pn_bench_main",
    outbound_phone_number_id: "pn_bench_main",
    selection_reason: "StickyConversation",
    ten_dlc_campaign_id: "CBENCH1",
    billing_status: sent ? "Billed" : "NotBilled",
    billable_micros: sent ? 7900 : null,
    queued_at: 0,
    sending_started_at: status === "Scheduled" || status === "Canceled" ? null : 40,
    sent_at: sent ? 180 : null,
    delivered_at: status === "Delivered" ? 2400 : null,
    undeliverable_at: status === "Undeliverable" ? 3000 : null,
    failed_at: status === "Failed" ? 900 : null,
    error_code: status === "Failed" ? "30008" : status === "Undeliverable" ? "30003" : null,
    blocked_at: status === "Blocked" ? 20 : null,
    compliance_action: status === "Blocked" ? "Suppressed" : null,
    scheduled_for: status === "Scheduled" ? 36_000_000 : null,
    scheduled_reason: status === "Scheduled" ? "QuietHours" : null,
    canceled_at: status === "Canceled" ? 60_000 : null,
    cancel_reason: status === "Canceled" ? "Canceled by user" : null,
    retry_count: status === "Failed" ? 5 : 0,
  });
}

const TEMPLATES = {
  created: template({
    ...activity("LeadCreated"),
    event_type: "LeadCreated",
    event_category: "Lead",
    description: "Lead was created.",
    status: "Completed",
    related_entity_type: "Lead",
  }),
  outbound: new Map(OUTBOUND.map((status) => [status, outboundTemplate(status)])),
  inbound: template({
    ...activity("Sms"),
    event_type: "SmsInbound",
    event_category: "Messaging",
    description: "Inbound SMS.",
    direction: "inbound",
    status: "Received",
    traffic_type: "RealLead",
    received_at: 0,
    billing_status: "NotBilled",
  }),
  note: template({
    ...activity("Note"),
    event_type: "NoteCreated",
    event_category: "Note",
    description: "Internal note added to the conversation.",
    summary: "Called, left voicemail. Try again tomorrow morning.",
    status: "Completed",
  }),
  updated: template({
    ...activity("LeadUpdated"),
    event_type: "LeadUpdated",
    event_category: "Lead",
    description: "Lead was updated (1 field).",
    summary: "Lead updated: metadata.price",
    status: "Completed",
  }),
};

const BUSINESS_NUMBER = "+14155550100";

interface SeededEvent {
  values: unknown[];
  template: EventTemplate;
  summary: string;
}

function makeEvent(
  kind: number,
  organizationId: string,
  userId: string,
  lead: LeadRow,
  conversation: ConversationRow,
  at: number,
  random: () => number,
): SeededEvent {
  let tpl: EventTemplate;
  let summary: string | null = null;
  let from: string | null = null;
  let to: string | null = null;
  const name = `${lead.first_name} ${lead.last_name}`;
  if (kind === 0) {
    tpl = TEMPLATES.created;
    summary = `Lead created: ${name}`;
  } else {
    const roll = random();
    if (roll < 0.55) {
      tpl = TEMPLATES.outbound.get(OUTBOUND[Math.floor(random() * OUTBOUND.length)]!)!;
      summary = TEXTS[Math.floor(random() * TEXTS.length)]!.replace("{n}", lead.first_name ?? "there");
      from = BUSINESS_NUMBER;
      to = lead.phone;
    } else if (roll < 0.8) {
      tpl = TEMPLATES.inbound;
      summary = random() < 0.5 ? "Yes, call me after 5" : "How much would it cost?";
      from = lead.phone;
      to = BUSINESS_NUMBER;
    } else {
      tpl = roll < 0.92 ? TEMPLATES.note : TEMPLATES.updated;
    }
  }
  const values = tpl.values.slice();
  const id = newId("evt", at);
  values[C.id] = id;
  values[C.org] = organizationId;
  values[C.lead] = lead.id;
  values[C.conversation] = conversation.id;
  values[C.source] = lead.source_id;
  values[C.createdAt] = at;
  values[C.createdBy] = userId;
  if (summary !== null) values[C.summary] = summary;
  if (kind === 0) values[C.relatedId] = lead.id;
  if (from !== null) {
    values[C.from] = from;
    values[C.to] = to;
  }
  for (const i of tpl.offsets) values[i] = (values[i] as number) + at;
  return {
    values,
    template: tpl,
    summary: (values[C.summary] as string | null) ?? (values[C.description] as string),
  };
}

/** A table's rows as positional arrays (column order fixed per table): cheap to clone and to bind. */
interface RowSet {
  columns: string[];
  rows: unknown[][];
}

interface Batch {
  events: RowSet;
  /** The template of each event row, in the same order. */
  eventTemplates: EventTemplate[];
  leads: RowSet;
  conversations: RowSet;
}

interface Inserter {
  write(batch: Batch): Promise<void>;
  finish(): Promise<void>;
}

/**
 * Single-row INSERTs prepared once (per table, and per event template) and bound from spread
 * arguments: the fastest path better-sqlite3 offers.
 *
 * In WAL mode every page of a bulk load is written twice: into the log at each commit, then back into
 * the file by the checkpoint (together a third of the load's time). When the seeder has the file to
 * itself it switches to a rollback journal for the load, which writes new pages once and journals only
 * the few existing pages a commit changes (synchronous=FULL keeps each commit durable), and switches
 * back to WAL at the end. With another connection open (a running server) SQLite refuses the switch,
 * and the load runs in WAL mode with one checkpoint at the end. A crash mid-load leaves whole
 * committed batches either way; the next `openConnection` puts the file back in WAL mode.
 */
function sqliteInserter(store: Store): Inserter {
  if (store.conn.engine !== "sqlite") throw new Error("not sqlite");
  const raw = store.conn.raw;
  // The load appends to every B-tree (ids and timestamps ascend), so the pages it touches are few:
  // 64 MiB of page cache loads as fast as 256 MiB (measured: 9.4–9.5 s against 9.7–9.8 s for 1M
  // events) with 200 MB less memory; SQLite's default 2 MiB is too small for four trees' right edges.
  raw.pragma("cache_size = -65536");
  const rollbackJournal = switchJournalMode(raw, "delete");
  if (rollbackJournal) {
    raw.pragma("synchronous = FULL");
    // Keep the lock between batches: released, SQLite re-validates its page cache at every
    // transaction start (about 4% of the load).
    raw.pragma("locking_mode = EXCLUSIVE");
  } else raw.pragma("wal_autocheckpoint = 0");
  const statements = new Map<string, SqliteStatement<unknown[]>>();
  const insertRows = (table: string, set: RowSet) => {
    let statement = statements.get(table);
    if (!statement) {
      statement = raw.prepare<unknown[]>(
        `insert into ${table} (${set.columns.join(",")}) values (${set.columns.map(() => "?").join(",")})`,
      );
      statements.set(table, statement);
    }
    // Spread, not an array: better-sqlite3 binds arguments directly but reads an array through V8's
    // generic property lookup, element by element (about 15% of the load's time at 60 columns).
    for (const row of set.rows) statement.run(...row);
  };
  // One statement per event template, its constant columns written into the SQL as literals: an
  // event row then binds about 15 values instead of 60. Binding is where better-sqlite3 spends its
  // own time (type checks and a UTF-8 copy of every string, per value, per row).
  const eventStatements = new Map<EventTemplate, SqliteStatement<unknown[]>>();
  const eventStatement = (tpl: EventTemplate) => {
    let statement = eventStatements.get(tpl);
    if (!statement) {
      const perEvent = new Set(tpl.perEvent);
      const values = tpl.values.map((value, i) => (perEvent.has(i) ? "?" : sqlLiteral(value)));
      statement = raw.prepare<unknown[]>(
        `insert into events (${EVENT_COLUMNS.join(",")}) values (${values.join(",")})`,
      );
      eventStatements.set(tpl, statement);
    }
    return statement;
  };
  const write = raw.transaction((batch: Batch) => {
    insertRows("leads", batch.leads);
    insertRows("conversations", batch.conversations);
    batch.events.rows.forEach((row, i) => {
      const tpl = batch.eventTemplates[i]!;
      eventStatement(tpl).run(...tpl.perEvent.map((column) => row[column]));
    });
  });
  return {
    write: async (batch) => write(batch),
    finish: async () => {
      if (rollbackJournal) {
        raw.pragma("locking_mode = NORMAL");
        switchJournalMode(raw, "wal");
        raw.pragma("synchronous = NORMAL");
      } else {
        raw.pragma("wal_checkpoint(TRUNCATE)");
        raw.pragma("wal_autocheckpoint = 4000");
      }
    },
  };
}

/** A template constant as SQL (templates hold only nulls, integers and strings of our own). */
function sqlLiteral(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  if (typeof value === "string") return `'${value.replaceAll("'", "''")}'`;
  throw new Error(`bench-seed: no SQL literal for ${typeof value}`);
}

/** Sets the journal mode; false when SQLite keeps the current one (another connection is open). */
function switchJournalMode(raw: SqliteDatabase, mode: "delete" | "wal"): boolean {
  try {
    return raw.pragma(`journal_mode = ${mode}`, { simple: true }) === mode;
  } catch {
    return false;
  }
}

/** Multi-row INSERT … VALUES ($1,…),(…) in one transaction per batch. */
function postgresInserter(store: Store): Inserter {
  if (store.conn.engine !== "postgresql") throw new Error("not postgresql");
  const pool = store.conn.raw;
  type Client = { query: (text: string, values?: unknown[]) => Promise<unknown> };
  const insertRows = async (client: Client, table: string, set: RowSet) => {
    const chunkSize = Math.floor(60_000 / set.columns.length);
    for (let i = 0; i < set.rows.length; i += chunkSize) {
      const chunk = set.rows.slice(i, i + chunkSize);
      const width = set.columns.length;
      const tuples = chunk.map(
        (_, r) => `(${set.columns.map((__, c) => `$${r * width + c + 1}`).join(",")})`,
      );
      await client.query(
        `insert into ${table} (${set.columns.join(",")}) values ${tuples.join(",")}`,
        chunk.flat(),
      );
    }
  };
  const write = async (batch: Batch) => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      await insertRows(client, "leads", batch.leads);
      await insertRows(client, "conversations", batch.conversations);
      await insertRows(client, "events", batch.events);
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
  };
  return { write, finish: async () => {} };
}

export async function benchSeed(
  store: Store,
  total: number,
  options: { progress: boolean },
): Promise<Seeded> {
  const started = performance.now();
  const org = await createOrganization(store.db, `Bench ${new Date().toISOString()}`);
  const insert = store.engine === "sqlite" ? sqliteInserter(store) : postgresInserter(store);
  const random = rng(42);
  const bar = options.progress
    ? new SingleBar({ format: "seeding [{bar}] {percentage}% {value}/{total} events {eta}s left" })
    : null;
  bar?.start(total, 0);
  // Events are spread over the past 90 days, in creation order, a few seconds apart per lead.
  const span = 90 * 24 * 3600 * 1000;
  let at = Date.now() - span;
  const step = Math.max(1, Math.floor(span / total));
  const BATCH = 10_000;
  let written = 0;
  const emptyBatch = (): Batch => ({
    events: { columns: EVENT_COLUMNS, rows: [] },
    eventTemplates: [],
    leads: { columns: [], rows: [] },
    conversations: { columns: [], rows: [] },
  });
  const push = (set: RowSet, row: object) => {
    if (set.columns.length === 0) set.columns = Object.keys(row);
    set.rows.push(Object.values(row));
  };
  let batch = emptyBatch();
  let current = makeLead(org.organizationId, org.userId, 0, at, random);
  // The journal mode goes back to WAL even when a batch fails.
  try {
    for (let i = 0; i < total; i++) {
      const kind = i % EVENTS_PER_LEAD;
      if (kind === 0) {
        if (i > 0) current = makeLead(org.organizationId, org.userId, i / EVENTS_PER_LEAD, at, random);
        push(batch.leads, current.lead);
      }
      const event = makeEvent(
        kind,
        org.organizationId,
        org.userId,
        current.lead,
        current.conversation,
        at,
        random,
      );
      batch.events.rows.push(event.values);
      batch.eventTemplates.push(event.template);
      current.conversation.last_event_at = at;
      current.conversation.last_event_id = event.values[C.id] as string;
      // As the server keeps the preview: a canceled message is not shown (cancel.ts), a note is
      // flagged as internal (touchConversation).
      if (event.values[C.status] !== "Canceled") {
        current.conversation.last_snippet = snippetOf(event.summary);
        current.conversation.last_event_is_internal_note = event.template === TEMPLATES.note ? 1 : 0;
      }
      if (event.template === TEMPLATES.inbound) {
        // As messaging/inbound.ts keeps them: the lead's messages, the last to arrive named.
        current.conversation.inbound_count++;
        current.conversation.last_inbound_event_id = event.values[C.id] as string;
      }
      // A lead's conversation row is written with its last event (leads never span batches: 25 | 10,000).
      if (kind === EVENTS_PER_LEAD - 1 || i === total - 1) push(batch.conversations, current.conversation);
      at += step;
      if (batch.events.rows.length === BATCH || i === total - 1) {
        await insert.write(batch);
        written += batch.events.rows.length;
        bar?.update(written);
        batch = emptyBatch();
      }
    }
  } finally {
    await insert.finish();
  }
  bar?.stop();
  return {
    organizationId: org.organizationId,
    apiKey: org.apiKey,
    seconds: (performance.now() - started) / 1000,
  };
}
