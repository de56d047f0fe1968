import assert from "node:assert/strict";
import type { KyselyPlugin } from "kysely";
import { loadMessagingConfig } from "../../src/config.js";
import { ACTIVITY_CATEGORY } from "../../src/domain/event-vocabulary.js";
import { SimulatorProvider } from "../../src/messaging/providers/simulator.js";
import { Worker } from "../../src/messaging/worker.js";
import type { Engine } from "../../src/store/database.js";
import { newEventRow } from "../../src/store/events-repo.js";
import { newPhoneNumberRow } from "../../src/store/phone-numbers-repo.js";
import type { EventRow, PhoneNumberRow } from "../../src/store/schema.js";
import { assertEventRecord, type TestApi } from "./api.js";

// Helpers for messaging tests: sender numbers written straight to the store (the phone-number API
// has its own tests), leads with conversations, and waiting for a message to reach a status.

/** An outbound SMS of `org` created at `at`, as the store holds it, with `fields` set on it. */
export function outboundSmsRow(
  org: { organizationId: string; userId: string },
  fields: Partial<EventRow>,
  at: number,
): EventRow {
  return newEventRow(
    {
      organization_id: org.organizationId,
      event_type: "SmsOutbound",
      activity_type: "Sms",
      activity_category: ACTIVITY_CATEGORY.Sms,
      description: "Outbound SMS.",
      created_by: org.userId,
      direction: "outbound",
      ...fields,
    },
    at,
  );
}

/** A sender number of `organizationId` that can send anywhere (enabled, SMS on, a 10DLC campaign). */
export function senderNumberRow(
  organizationId: string,
  overrides: Partial<PhoneNumberRow> = {},
  now = Date.now(),
): PhoneNumberRow {
  return {
    ...newPhoneNumberRow(
      organizationId,
      {
        number: "+14155550100",
        name: "Main line",
        enabled: 1,
        sms_enabled: 1,
        source_id: null,
        campaign_id: null,
        ten_dlc_campaign_id: "CAMP123",
        is_preferred: 0,
        is_default: 1,
        warmup_enabled: 0,
      },
      now,
    ),
    ...overrides,
  };
}

export async function addSenderNumber(
  api: TestApi,
  overrides: Partial<PhoneNumberRow> = {},
): Promise<PhoneNumberRow> {
  const row = senderNumberRow(api.org.organizationId, overrides);
  await api.db.store.db.insertInto("phone_numbers").values(row).execute();
  return row;
}

export async function addLead(api: TestApi, phone: string, contact: Record<string, unknown> = {}) {
  const res = await api.call("POST", "/leads", {
    contact: { firstName: "Pat", phone: { number: phone }, ...contact },
  });
  assert.equal(res.statusCode, 201, res.body);
  const lead = res.json();
  const conversations = (await api.call("POST", `/conversations/lead/${lead.id}`, {})).json();
  return { leadId: lead.id as string, conversationId: conversations.items[0].id as string };
}

export function startSimulator(api: TestApi, receiptDelayMs = 5) {
  return api.pipeline.startWorker(new SimulatorProvider(api.pipeline, receiptDelayMs), { pollMs: 10 });
}

export type EventJson = Record<string, unknown> & { id: string; status: string };

/** Polls GET /events/{id} until `done` holds (bounded: 10 s). */
export async function waitForEvent(
  api: TestApi,
  id: string,
  done: (e: EventJson) => boolean,
): Promise<EventJson> {
  const deadline = Date.now() + 10_000;
  let last: EventJson | undefined;
  while (Date.now() < deadline) {
    const res = await api.call("GET", `/events/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    last = res.json() as EventJson;
    assertEventRecord(last);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error(`event ${id} did not settle: ${JSON.stringify(last)}`);
}

export const FINAL = new Set(["Delivered", "Undeliverable", "Failed", "Blocked", "Canceled"]);
export const isFinal = (e: EventJson) => FINAL.has(e.status);

/** Polls `check` until it answers a value (bounded: 10 s). */
export async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** How many failures the organization's sender numbers have on their health record (all days). */
export async function senderFailureCount(api: TestApi): Promise<number> {
  const days = await api.db.store.db
    .selectFrom("phone_number_health_days")
    .select(["failed", "carrier_blocked"])
    .where("organization_id", "=", api.org.organizationId)
    .execute();
  return days.reduce((n, r) => n + Number(r.failed) + Number(r.carrier_blocked), 0);
}

/** An active SMS suppression of `phone` in the test organization, written straight to the store. */
export async function addSuppression(api: TestApi, id: string, phone: string): Promise<void> {
  await api.db.store.db
    .insertInto("suppressions")
    .values({
      organization_id: api.org.organizationId,
      id,
      channel: "sms",
      recipient: phone,
      phone_number: phone,
      email: null,
      status: "active",
      source: "api",
      reason: "test",
      suppressed_at: Date.now(),
      released_at: null,
      audit: "[]",
    })
    .execute();
}

/**
 * A worker of its own on the test API's store, with quiet hours 21:00-08:00 and the clock `now`.
 * It counts the statements it runs (`statements()`, reset by `reset()`): claims that batch their
 * writes take as many for many messages as for few.
 */
export function clockedWorker(api: TestApi, engine: Engine, now: () => number) {
  let statements = 0;
  const counting: KyselyPlugin = {
    transformQuery: (args) => {
      statements++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  const worker = new Worker(api.db.store.db.withPlugin(counting), {
    engine,
    config: loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "21:00-08:00" }),
    provider: new SimulatorProvider(api.pipeline),
    now,
  });
  return {
    worker,
    reset: () => {
      statements = 0;
    },
    statements: () => statements,
  };
}
