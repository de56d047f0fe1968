import type { FastifyPluginAsync } from "fastify";
import { monthStart } from "../../domain/calendar-month.js";
import { microsToUsd } from "../../domain/money.js";
import { plural } from "../../domain/plain-text.js";
import { badRequest } from "../../domain/problem.js";
import {
  EARLIEST_INSTANT,
  endsBeforeStart,
  invertedRange,
  LATEST_INSTANT,
  parseRfc3339,
  rfc3339OffsetMinutes,
  toIso,
} from "../../domain/time.js";
import {
  BILLABLE_USAGE_STATUSES,
  getOrCreateWallet,
  NET_USAGE_STATUSES,
  REFUND_STATUS,
  recipientsByEventId,
  summarizeUsage,
  USAGE_LIST_SPEC,
  type UsageSummaryGroup,
} from "../../store/billing-repo.js";
import { getLeadsByIds } from "../../store/leads-repo.js";
import { getOrganization } from "../../store/orgs-repo.js";
import type { LeadRow, UsageLedgerTable, WalletsTable } from "../../store/schema.js";
import type { RouteDeps } from "../deps.js";
import {
  PagedUsageSchema,
  UsageSummaryQuerySchema,
  UsageSummaryResponseSchema,
  WalletResponseSchema,
} from "../schemas/billing.js";
import { listBody, problemResponses } from "../schemas/common.js";

// The wallet and the usage ledger (issue 3, item 6). Money is integer micro-dollars inside and USD
// numbers on the wire; amounts are summed in micros and converted once.

function timestampParam(value: string | undefined, name: string): number | null {
  if (value === undefined || value === "") return null;
  // A `>=` (periodStart) or `<` (periodEnd) bound: a finer fraction than the millisecond rounds up.
  const ms = parseRfc3339(value, true);
  if (ms === null)
    throw badRequest(`${name} must be an RFC 3339 date-time such as 2024-01-01T00:00:00Z.`, name);
  return ms;
}

/** The UTC offset, in minutes, a bound is written in (0 for none): its month is that clock's month. */
const offsetOf = (value: string | undefined) => (value ? (rfc3339OffsetMinutes(value) ?? 0) : 0);

/**
 * The summary period, [periodStart, periodEnd). With neither bound: the current calendar month (UTC).
 * With one: the calendar month it starts (periodStart) or ends (periodEnd) in, at the offset it is
 * written with, so that months asked for one after another in a client's zone meet without a gap.
 */
export function summaryPeriod(
  query: { periodStart?: string; periodEnd?: string },
  now = Date.now(),
): { start: number; end: number } {
  const from = timestampParam(query.periodStart, "periodStart");
  const to = timestampParam(query.periodEnd, "periodEnd");
  const start = from ?? (to === null ? monthStart(now) : monthStart(to - 1, 0, offsetOf(query.periodEnd)));
  const end = to ?? monthStart(start, 1, offsetOf(query.periodStart));
  // As a list's range is (list-query.ts RangeBounds): compared as written, an end before the start
  // is a 400, and an end equal to it an empty period (periodStart inclusive, periodEnd exclusive).
  if (endsBeforeStart(query.periodStart, query.periodEnd) || end < start) {
    throw invertedRange("periodStart", "periodEnd");
  }
  // The month a bound implies may leave the years RFC 3339 can write (periodStart in December 9999).
  if (start < EARLIEST_INSTANT || end > LATEST_INSTANT) {
    const param = from === null ? "periodEnd" : "periodStart";
    throw badRequest(`${param}: the period must lie within the years 0000 to 9999.`, param);
  }
  return { start, end };
}

function toWalletResponse(wallet: WalletsTable, organizationName: string, now: number) {
  return {
    balance: microsToUsd(wallet.balance_micros),
    // The balance is kept up to date in the same transaction as every charge and credit, so the
    // figure read is the balance as of this request.
    balanceCalculatedAt: toIso(now),
    amountPurchased: microsToUsd(wallet.purchased_micros),
    amountRemaining: microsToUsd(Math.max(0, wallet.balance_micros)),
    currency: "USD",
    // One balance, not credit lots: the lot fields do not apply, and credit never expires.
    purchasedAt: null,
    expiresAt: null,
    sourceType: null,
    creditStatus: null,
    organizationId: wallet.organization_id,
    originalTransactionId: null,
    nextCreditExpirationAt: null,
    nextExpiringCreditAmount: null,
    expiredCreditAmount: 0,
    name: `${organizationName} wallet`,
    id: wallet.id,
    createdAt: toIso(wallet.created_at),
    modifiedAt: wallet.updated_at === wallet.created_at ? null : toIso(wallet.updated_at),
  };
}

/**
 * Statuses that did not deliver the unit: left out of the "sent" counters. A refund line is counted:
 * its negative quantity takes back the units of the charge it reverses.
 */
const NOT_DELIVERED = new Set(["failed", "blocked_due_to_billing"]);

const COUNTERS: Array<{ key: string; label: string; unit: string; billableUnit: string }> = [
  { key: "sms_segments", label: "SMS segments", unit: "segments", billableUnit: "sms_segment" },
  { key: "mms_messages", label: "MMS messages", unit: "messages", billableUnit: "mms_message" },
  {
    key: "warmup_sms_segments",
    label: "Warmup SMS segments",
    unit: "segments",
    billableUnit: "warmup_sms_segment",
  },
];

function toUsageSummary(groups: UsageSummaryGroup[], start: number, end: number) {
  const sum = (rows: UsageSummaryGroup[], pick: (g: UsageSummaryGroup) => number) =>
    rows.reduce((total, g) => total + pick(g), 0);
  // What the organization was charged, net: a refund line's negative amount gives its charge back.
  const net = groups.filter((g) => NET_USAGE_STATUSES.includes(g.status));
  const chargeMicros = sum(net, (g) => g.amountMicros);
  const counters = COUNTERS.map((c, i) => ({
    key: c.key,
    label: c.label,
    value: sum(
      groups.filter((g) => g.billableUnit === c.billableUnit && !NOT_DELIVERED.has(g.status)),
      (g) => g.quantity,
    ),
    unit: c.unit,
    sortOrder: i + 1,
  }));
  counters.push({
    key: "customer_charge_total",
    label: "Charges",
    value: microsToUsd(chargeMicros) as number,
    unit: "USD",
    sortOrder: counters.length + 1,
  });
  return {
    periodStart: toIso(start),
    periodEnd: toIso(end),
    customerChargeTotal: microsToUsd(chargeMicros),
    billableQuantityTotal: sum(net, (g) => g.quantity),
    transactionCount: sum(groups, (g) => g.recordCount),
    pendingInvoiceCount: sum(
      groups.filter((g) => g.status === "pending_invoice"),
      (g) => g.recordCount,
    ),
    failedCount: sum(
      groups.filter((g) => g.status === "failed"),
      (g) => g.recordCount,
    ),
    lines: groups.map((g) => ({
      channel: g.channel,
      billableUnit: g.billableUnit,
      status: g.status,
      quantity: g.quantity,
      customerChargeAmount: microsToUsd(g.amountMicros),
      recordCount: g.recordCount,
    })),
    counters,
  };
}

function leadName(lead: LeadRow): string {
  const name = [lead.first_name, lead.last_name].filter((part) => part?.trim()).join(" ");
  return name || lead.phone || lead.email || lead.id;
}

/**
 * What a line billed, e.g. "SMS to +14155550142, 2 segments" (the recipient is read from the
 * message event, which the ledger line does not copy), or gave back ("Refund: SMS to …"); null for
 * a unit no message is billed in.
 */
export function usageDescription(
  row: Pick<UsageLedgerTable, "billable_unit" | "quantity" | "status">,
  recipient: string | null,
): string | null {
  if (row.status === REFUND_STATUS) {
    const charge = usageDescription({ ...row, status: "charged", quantity: -row.quantity }, recipient);
    return charge === null ? null : `Refund: ${charge}`;
  }
  const to = recipient ? ` to ${recipient}` : "";
  switch (row.billable_unit) {
    case "sms_segment":
      return `SMS${to}, ${plural(row.quantity, "segment")}`;
    case "warmup_sms_segment":
      return `Warmup SMS${to}, ${plural(row.quantity, "segment")}`;
    case "mms_message":
      return row.quantity === 1 ? `MMS${to}` : `MMS${to}, ${plural(row.quantity, "message")}`;
    case "lead_received":
      // A lead a source delivered, charged at the source's cost per lead (its phone, when it has one).
      return recipient ? `Lead received, ${recipient}` : "Lead received";
    default:
      return null;
  }
}

function toUsageRow(
  row: UsageLedgerTable,
  organization: { id: string; name: string },
  leads: Map<string, LeadRow>,
  recipients: Map<string, string | null>,
) {
  const lead = row.lead_id ? leads.get(row.lead_id) : undefined;
  return {
    id: row.id,
    organization,
    user: null,
    lead: row.lead_id ? { id: row.lead_id, name: lead ? leadName(lead) : row.lead_id } : null,
    phoneNumberId: row.phone_number_id,
    phoneNumber: row.phone_number,
    channel: row.channel,
    billableUnit: row.billable_unit,
    status: row.status,
    quantity: row.quantity,
    durationSeconds: null,
    billableSeconds: null,
    smsSegments:
      row.billable_unit === "sms_segment" || row.billable_unit === "warmup_sms_segment" ? row.quantity : null,
    unitPrice: microsToUsd(row.unit_price_micros),
    customerChargeAmount: microsToUsd(row.amount_micros),
    isBillable: BILLABLE_USAGE_STATUSES.includes(row.status),
    description: usageDescription(row, row.event_id ? (recipients.get(row.event_id) ?? null) : null),
    createdAt: toIso(row.created_at),
    eventId: row.event_id,
  };
}

export const billingRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store }) => {
  app.get(
    "/wallets/me",
    {
      schema: {
        tags: ["Wallets"],
        summary: "Get the organization's wallet balance (USD)",
        response: { 200: WalletResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const now = Date.now();
      // New organizations get their wallet (with the starting credit) when they are created. One
      // created before wallets existed has no row: it is created here, lazily, with a balance of 0,
      // so that every organization answers a wallet with a stable id (never a 404).
      const wallet = await getOrCreateWallet(store.db, organizationId, now);
      const org = await getOrganization(store.db, organizationId);
      return toWalletResponse(wallet, org?.name ?? organizationId, now);
    },
  );

  app.get<{ Querystring: { periodStart?: string; periodEnd?: string } }>(
    "/usage/summary/my",
    {
      schema: {
        tags: ["Usage"],
        summary: "Usage totals for a period, grouped by channel, billable unit and status",
        description:
          "periodStart and periodEnd are RFC 3339; the period is [periodStart, periodEnd). Default: the current calendar month (UTC); with only one bound, the calendar month it starts or ends, at the offset it is written with.",
        querystring: UsageSummaryQuerySchema,
        response: { 200: UsageSummaryResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { start, end } = summaryPeriod(request.query);
      const groups = await summarizeUsage(store.db, request.auth.organizationId, start, end);
      return toUsageSummary(groups, start, end);
    },
  );

  app.post(
    "/usage/all/my",
    {
      schema: {
        tags: ["Usage"],
        summary: "List the organization's usage ledger lines",
        description:
          "Order by createdAt (default, newest first) or id; filter by channel, status, billableUnit, phoneNumberId, phoneNumber, leadId, eventId or id; range on createdAt; search phoneNumber.",
        body: listBody,
        response: { 200: PagedUsageSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const page = await store.listPage<UsageLedgerTable>(USAGE_LIST_SPEC, organizationId, request.body);
      const [org, leads, recipients] = await Promise.all([
        getOrganization(store.db, organizationId),
        getLeadsByIds(
          store.db,
          organizationId,
          page.rows.flatMap((r) => (r.lead_id ? [r.lead_id] : [])),
        ),
        recipientsByEventId(
          store.db,
          organizationId,
          page.rows.flatMap((r) => (r.event_id ? [r.event_id] : [])),
        ),
      ]);
      const organization = { id: organizationId, name: org?.name ?? organizationId };
      return {
        items: page.rows.map((r) => toUsageRow(r, organization, leads, recipients)),
        pageSize: page.pageSize,
        totalCount: page.totalCount,
        continuationToken: page.continuationToken,
      };
    },
  );
};
