import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import Fastify from "fastify";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { PagedSmsEventsSchema, SmsEventTableRowSchema, SmsResponseSchema } from "../src/http/schemas/sms.js";
import { toSmsEventTableRow, toSmsResponse } from "../src/http/sms-record.js";
import { newEventRow } from "../src/store/events-repo.js";
import type { EventRow, EventTransitionsTable } from "../src/store/schema.js";

// The SMS answers' schemas drive Fastify's serializer: what it writes must be exactly what
// sms-record.ts built. A property it did not list would be dropped, and a null under a non-null
// type would be written as "" or 0.

const T0 = Date.parse("2026-11-20T10:00:00Z");
const nullable = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: null });
const text = fc.string({ maxLength: 20 });
const time = fc.integer({ min: T0, max: T0 + 86_400_000 });

const messageRow = fc
  .record({
    direction: fc.constantFrom("inbound", "outbound"),
    status: fc.constantFrom(
      "Scheduled",
      "Queued",
      "Sending",
      "Sent",
      "Delivered",
      "Failed",
      "Blocked",
      "Canceled",
      "Received",
    ),
    body: nullable(text),
    lead_id: nullable(fc.constant("lead_01")),
    conversation_id: nullable(fc.constant("conv_01")),
    from_phone_number_id: nullable(fc.constant("pn_01")),
    outbound_phone_number_id: nullable(fc.constant("pn_01")),
    from_phone_number: nullable(fc.constant("+14155550100")),
    to_phone_number: nullable(fc.constant("+12125550101")),
    selection_reason: nullable(fc.constantFrom("HealthyPool", "ManualOverride")),
    status_reason: nullable(text),
    scheduled_reason: nullable(fc.constant("QuietHours")),
    error_code: nullable(fc.constant("40008")),
    error_message: nullable(text),
    billing_status: nullable(fc.constantFrom("Billed", "NotBilled", "InsufficientFunds")),
    billable_micros: nullable(fc.integer({ min: 0, max: 100_000 })),
    compliance_action: nullable(fc.constantFrom("Suppressed", "OptOut")),
    traffic_type: nullable(fc.constantFrom("RealLead", "Warmup", "SystemInternal")),
    outbound_source: nullable(fc.constantFrom("manual", "api", "system_notification")),
    sent_at: nullable(time),
    delivered_at: nullable(time),
    scheduled_for: nullable(time),
    retry_count: fc.integer({ min: 0, max: 5 }),
    created_by: fc.constantFrom("usr_01", "system"),
    media: nullable(
      fc.constant(
        JSON.stringify([
          { url: "https://m.example/a.jpg", contentType: null, size: 10, sha256: null, fileName: null },
        ]),
      ),
    ),
  })
  .map(
    (fields): EventRow => ({
      ...newEventRow(
        {
          organization_id: "org_01",
          event_type: fields.direction === "inbound" ? "SmsInbound" : "SmsOutbound",
          activity_type: "Sms",
          activity_category: ACTIVITY_CATEGORY.Sms,
          description: "SMS",
          created_by: fields.created_by,
          created_at: T0,
        },
        T0,
      ),
      ...fields,
    }),
  );

const transitions = (row: EventRow): EventTransitionsTable[] => [
  {
    organization_id: row.organization_id,
    event_id: row.id,
    seq: 1,
    at: T0,
    from_status: null,
    to_status: "Queued",
    applied: 1,
    stage: "api",
    message: "Queued.",
  },
  {
    organization_id: row.organization_id,
    event_id: row.id,
    seq: 2,
    at: T0 + 5,
    from_status: "Queued",
    to_status: null,
    applied: 0,
    stage: "provider-receipt",
    message: "Ignored.",
  },
];

test("the SMS schemas serialize every answer exactly as sms-record.ts built it", async () => {
  const app = Fastify();
  for (const schema of [SmsResponseSchema, SmsEventTableRowSchema, PagedSmsEventsSchema])
    app.addSchema(schema);
  let current: unknown;
  for (const [path, ref] of [
    ["/response", "SmsResponse#"],
    ["/row", "SmsEventTableRow#"],
    ["/page", "PagedResultOfSmsEventTableRow#"],
  ] as const) {
    app.get(path, { schema: { response: { 200: { $ref: ref } } } }, async () => current);
  }
  await app.ready();
  const written = async (path: string, value: unknown) => {
    current = value;
    const res = await app.inject({ method: "GET", url: path });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  try {
    await fc.assert(
      fc.asyncProperty(messageRow, fc.boolean(), async (row, namesKnown) => {
        const response = toSmsResponse(row, transitions(row));
        assert.deepEqual(await written("/response", response), JSON.parse(JSON.stringify(response)));
        const tableRow = toSmsEventTableRow(row, transitions(row), undefined, {
          author: namesKnown ? { name: "Owner", email: null } : null,
          organizationName: namesKnown ? "Acme" : null,
        });
        const expected = JSON.parse(JSON.stringify(tableRow));
        assert.deepEqual(await written("/row", tableRow), expected);
        const page = { items: [tableRow], pageSize: 50, totalCount: null, continuationToken: null };
        assert.deepEqual(await written("/page", page), { ...page, items: [expected] });
      }),
      { numRuns: 300 },
    );
  } finally {
    await app.close();
  }
});
