import type { Transaction } from "kysely";
import type { Database, EventRow } from "../store/schema.js";
import { suppress } from "../store/suppressions-repo.js";

// A provider that refuses a message because the recipient opted out with it (Telnyx 40300: they
// texted STOP and Telnyx holds the block) is telling us of an opt-out we may never have seen: the
// STOP can reach the provider and not us (a webhook lost, another system on the same number or
// messaging profile). It is recorded as a suppression, in the transaction that records the
// refusal, so the gate blocks the next message to them before it reaches the provider. The refused
// message itself stays Failed with the provider's code: it was handed over and refused, which is
// what Failed says; Blocked is for what our own gate held back.

/** The suppression entries' `source`: distinct from the API's and an inbound keyword's. */
export const PROVIDER_OPT_OUT_SOURCE = "provider_opt_out";

export interface OptOutRefusal {
  /** Who refused: the worker's provider, or the one that accepted the message (receipts). */
  provider: string | null;
  errorCode: string | null | undefined;
  errorMessage: string | null | undefined;
}

/**
 * Suppresses the recipient of `event` on SMS. Idempotent: an entry already active is left as it is
 * (suppress answers it), so a second refusal adds nothing. A released entry is suppressed again, as
 * the provider's block proves the opt-out stands (only the refusal of a new send gets here).
 */
export async function suppressOptedOutRecipient(
  trx: Transaction<Database>,
  event: EventRow,
  refusal: OptOutRefusal,
  at: number,
): Promise<void> {
  const recipient = event.to_phone_number;
  if (!recipient) return;
  const code = refusal.errorCode ? `code ${refusal.errorCode}` : "no code";
  const words = refusal.errorMessage ? `: ${refusal.errorMessage}` : "";
  await suppress(trx, {
    organizationId: event.organization_id,
    channel: "sms",
    recipient,
    phoneNumber: recipient,
    email: null,
    source: PROVIDER_OPT_OUT_SOURCE,
    reason: `Refused by ${refusal.provider ?? "the provider"} (${code}${words}): the recipient opted out there. Message ${event.id}.`,
    actorId: null,
    at,
  });
}
