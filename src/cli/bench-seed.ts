import { SingleBar } from "cli-progress";
import { ACTIVITY_CATEGORY, type ActivityType } from "../domain/event-vocabulary.js";
import { newId } from "../domain/ids.js";
import { newEventRow } from "../store/events-repo.js";
import { createOrganization } from "../store/orgs-repo.js";
import type { ConversationRow, EventRow, EventTransitionsTable, LeadRow } from "../store/schema.js";
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

interface Batch {
  events: EventRow[];
  transitions: EventTransitionsTable[];
  leads: LeadRow[];
  conversations: ConversationRow[];
}

function makeLead(organizationId: string, userId: string, index: number, at: number, random: () => number) {
  const first = FIRST[index % FIRST.length]!;
  const last = LAST[Math.floor(random() * LAST.length)]!;
  const phone = `+1${AREA[index % AREA.length]}555${String(1000 + (index % 9000)).padStart(4, "0")}`;
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
  };
  return { lead, conversation };
}

function makeEvent(
  kind: number,
  organizationId: string,
  userId: string,
  lead: LeadRow,
  conversation: ConversationRow,
  at: number,
  random: () => number,
): EventRow {
  const base = {
    organization_id: organizationId,
    lead_id: lead.id,
    conversation_id: conversation.id,
    created_by: userId,
    source_id: lead.source_id,
  };
  const activity = (type: ActivityType) => ({
    activity_type: type,
    activity_category: ACTIVITY_CATEGORY[type],
  });
  if (kind === 0) {
    return newEventRow(
      {
        ...base,
        ...activity("LeadCreated"),
        event_type: "LeadCreated",
        event_category: "Lead",
        description: `Lead ${lead.first_name} ${lead.last_name} was created.`,
        summary: `Lead created: ${lead.first_name} ${lead.last_name}`,
        status: "Completed",
        related_entity_type: "Lead",
        related_entity_id: lead.id,
      },
      at,
    );
  }
  const roll = random();
  if (roll < 0.55) {
    const status = OUTBOUND[Math.floor(random() * OUTBOUND.length)]!;
    const text = TEXTS[Math.floor(random() * TEXTS.length)]!.replace("{n}", lead.first_name ?? "there");
    const sent = ["Delivered", "Sent", "Undeliverable"].includes(status);
    return newEventRow(
      {
        ...base,
        ...activity("Sms"),
        event_type: "SmsOutbound",
        event_category: "Messaging",
        description: `Outbound SMS to ${lead.phone}.`,
        summary: text,
        direction: "outbound",
        status,
        traffic_type: "RealLead",
        from_phone_number: "+14155550100",
        to_phone_number: lead.phone,
        selection_reason: "StickyConversation",
        billing_status: sent ? "Billed" : "NotBilled",
        billable_micros: sent ? 7900 : null,
        queued_at: at,
        sending_started_at: status === "Scheduled" || status === "Canceled" ? null : at + 40,
        sent_at: sent ? at + 180 : null,
        delivered_at: status === "Delivered" ? at + 2400 : null,
        undeliverable_at: status === "Undeliverable" ? at + 3000 : null,
        failed_at: status === "Failed" ? at + 900 : null,
        error_code: status === "Failed" ? "30008" : status === "Undeliverable" ? "30003" : null,
        blocked_at: status === "Blocked" ? at + 20 : null,
        compliance_action: status === "Blocked" ? "Suppressed" : null,
        scheduled_for: status === "Scheduled" ? at + 36_000_000 : null,
        scheduled_reason: status === "Scheduled" ? "QuietHours" : null,
        canceled_at: status === "Canceled" ? at + 60_000 : null,
        cancel_reason: status === "Canceled" ? "Canceled by user" : null,
        retry_count: status === "Failed" ? 5 : 0,
      },
      at,
    );
  }
  if (roll < 0.8) {
    return newEventRow(
      {
        ...base,
        ...activity("Sms"),
        event_type: "SmsInbound",
        event_category: "Messaging",
        description: `Inbound SMS from ${lead.phone}.`,
        summary: random() < 0.5 ? "Yes, call me after 5" : "How much would it cost?",
        direction: "inbound",
        status: "Received",
        traffic_type: "RealLead",
        from_phone_number: lead.phone,
        to_phone_number: "+14155550100",
        received_at: at,
        billing_status: "NotBilled",
      },
      at,
    );
  }
  if (roll < 0.92) {
    return newEventRow(
      {
        ...base,
        ...activity("Note"),
        event_type: "NoteCreated",
        event_category: "Note",
        description: "Internal note added to the conversation.",
        summary: "Called, left voicemail. Try again tomorrow morning.",
        status: "Completed",
      },
      at,
    );
  }
  return newEventRow(
    {
      ...base,
      ...activity("LeadUpdated"),
      event_type: "LeadUpdated",
      event_category: "Lead",
      description: `Lead ${lead.first_name} ${lead.last_name} was updated (1 field).`,
      summary: "Lead updated: metadata.price",
      status: "Completed",
    },
    at,
  );
}

function transitionFor(row: EventRow): EventTransitionsTable {
  return {
    organization_id: row.organization_id,
    event_id: row.id,
    seq: 1,
    at: row.created_at,
    from_status: null,
    to_status: row.status,
    applied: 1,
    stage: "created",
    message: `${row.activity_type} event created${row.status ? ` as ${row.status}` : ""}.`,
  };
}

type Inserter = (batch: Batch) => Promise<void>;

/** Multi-row INSERT … VALUES (…),(…) statements, prepared once per (table, row count). */
function sqliteInserter(store: Store): Inserter {
  if (store.conn.engine !== "sqlite") throw new Error("not sqlite");
  const raw = store.conn.raw;
  const cache = new Map<string, ReturnType<typeof raw.prepare>>();
  const insertRows = (table: string, rows: object[]) => {
    const CHUNK = 100;
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      const columns = Object.keys(chunk[0]!);
      const key = `${table}:${chunk.length}`;
      let statement = cache.get(key);
      if (!statement) {
        const tuple = `(${columns.map(() => "?").join(",")})`;
        statement = raw.prepare(
          `insert into ${table} (${columns.join(",")}) values ${Array(chunk.length).fill(tuple).join(",")}`,
        );
        cache.set(key, statement);
      }
      statement.run(chunk.flatMap((r) => Object.values(r)));
    }
  };
  const write = raw.transaction((batch: Batch) => {
    if (batch.leads.length) insertRows("leads", batch.leads);
    if (batch.conversations.length) insertRows("conversations", batch.conversations);
    insertRows("events", batch.events);
    insertRows("event_transitions", batch.transitions);
  });
  return async (batch) => write(batch);
}

function postgresInserter(store: Store): Inserter {
  if (store.conn.engine !== "postgresql") throw new Error("not postgresql");
  const pool = store.conn.raw;
  const insertRows = async (
    client: { query: (t: string, v: unknown[]) => Promise<unknown> },
    table: string,
    rows: object[],
  ) => {
    const CHUNK = 500;
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      const columns = Object.keys(chunk[0]!);
      const values: unknown[] = [];
      const tuples = chunk.map((r) => {
        const start = values.length;
        values.push(...Object.values(r));
        return `(${columns.map((_, j) => `$${start + j + 1}`).join(",")})`;
      });
      await client.query(`insert into ${table} (${columns.join(",")}) values ${tuples.join(",")}`, values);
    }
  };
  return async (batch) => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      if (batch.leads.length) await insertRows(client, "leads", batch.leads);
      if (batch.conversations.length) await insertRows(client, "conversations", batch.conversations);
      await insertRows(client, "events", batch.events);
      await insertRows(client, "event_transitions", batch.transitions);
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
  };
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
  let current = makeLead(org.organizationId, org.userId, 0, at, random);
  let batch: Batch = {
    events: [],
    transitions: [],
    leads: [current.lead],
    conversations: [current.conversation],
  };
  for (let i = 0; i < total; i++) {
    const kind = i % EVENTS_PER_LEAD;
    if (kind === 0 && i > 0) {
      current = makeLead(org.organizationId, org.userId, i / EVENTS_PER_LEAD, at, random);
      batch.leads.push(current.lead);
      batch.conversations.push(current.conversation);
    }
    const row = makeEvent(
      kind,
      org.organizationId,
      org.userId,
      current.lead,
      current.conversation,
      at,
      random,
    );
    batch.events.push(row);
    batch.transitions.push(transitionFor(row));
    current.conversation.last_event_at = at;
    current.conversation.last_snippet = (row.summary ?? row.description).slice(0, 160);
    at += step;
    if (batch.events.length === BATCH || i === total - 1) {
      await insert(batch);
      written += batch.events.length;
      bar?.update(written);
      batch = { events: [], transitions: [], leads: [], conversations: [] };
    }
  }
  bar?.stop();
  return {
    organizationId: org.organizationId,
    apiKey: org.apiKey,
    seconds: (performance.now() - started) / 1000,
  };
}
