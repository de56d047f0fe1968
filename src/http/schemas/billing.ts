import { BILLABLE_UNITS, USAGE_CHANNELS, USAGE_STATUSES } from "../../store/billing-repo.js";
import { dateTime, nullable, nullableDateTime, nullableIdNamePair, requestDateTime } from "./common.js";

// Wallet and usage shapes (Leadping WalletResponse, UsageSummaryResponse, UsageLedgerTableRow).
// Inlined in the routes rather than shared by $id: they are used by this one route plugin only.

const ns = nullable("string");
const nn = nullable("number");

export const WalletResponseSchema = {
  type: "object",
  properties: {
    balance: nn,
    balanceCalculatedAt: nullableDateTime,
    amountPurchased: nn,
    amountRemaining: nn,
    currency: ns,
    purchasedAt: nullableDateTime,
    expiresAt: nullableDateTime,
    sourceType: ns,
    creditStatus: ns,
    organizationId: ns,
    originalTransactionId: ns,
    nextCreditExpirationAt: nullableDateTime,
    nextExpiringCreditAmount: nn,
    expiredCreditAmount: nn,
    name: { type: "string" },
    id: { type: "string" },
    createdAt: dateTime,
    modifiedAt: nullableDateTime,
  },
};

const UsageSummaryLineSchema = {
  type: "object",
  properties: {
    channel: { type: "string", enum: [...USAGE_CHANNELS] },
    billableUnit: { type: "string", enum: [...BILLABLE_UNITS] },
    status: { type: "string", enum: [...USAGE_STATUSES] },
    quantity: { type: "number" },
    customerChargeAmount: { type: "number" },
    recordCount: { type: "integer" },
  },
};

const UsageCounterLineSchema = {
  type: "object",
  properties: {
    key: { type: "string" },
    label: { type: "string" },
    value: { type: "number" },
    unit: { type: "string" },
    sortOrder: { type: "integer" },
  },
};

export const UsageSummaryResponseSchema = {
  type: "object",
  properties: {
    periodStart: dateTime,
    periodEnd: dateTime,
    customerChargeTotal: { type: "number" },
    billableQuantityTotal: { type: "number" },
    transactionCount: { type: "integer" },
    pendingInvoiceCount: { type: "integer" },
    failedCount: { type: "integer" },
    lines: { type: "array", items: UsageSummaryLineSchema },
    counters: { type: "array", items: UsageCounterLineSchema },
  },
};

export const UsageSummaryQuerySchema = {
  type: "object",
  properties: {
    periodStart: {
      type: "string",
      maxLength: 64,
      ...requestDateTime,
      description: "RFC 3339; default: start of the month",
    },
    periodEnd: {
      type: "string",
      maxLength: 64,
      ...requestDateTime,
      description: "RFC 3339, exclusive; default: start of the month after periodStart's",
    },
  },
};

const UsageLedgerTableRowSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    organization: nullableIdNamePair,
    user: nullableIdNamePair,
    lead: nullableIdNamePair,
    phoneNumberId: ns,
    phoneNumber: ns,
    channel: { type: "string" },
    billableUnit: { type: "string" },
    status: { type: "string" },
    quantity: { type: "number" },
    durationSeconds: nullable("integer"),
    billableSeconds: nullable("integer"),
    smsSegments: nullable("integer"),
    unitPrice: { type: "number" },
    customerChargeAmount: { type: "number" },
    isBillable: { type: "boolean" },
    description: {
      ...ns,
      description:
        'What the line billed, e.g. "SMS to +14155550142, 2 segments"; null when no message applies.',
    },
    createdAt: dateTime,
    eventId: {
      ...ns,
      description: "leadtrail extension: the message event this line bills (one line per event)",
    },
  },
};

export const PagedUsageSchema = {
  type: "object",
  properties: {
    items: { type: "array", items: UsageLedgerTableRowSchema },
    pageSize: { type: "integer" },
    totalCount: { type: ["integer", "null"] },
    continuationToken: ns,
  },
};
