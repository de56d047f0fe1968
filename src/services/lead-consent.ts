import { PostgresAdapter, type Transaction } from "kysely";
import type { KeywordAction } from "../domain/keywords.js";
import { withSmsConsent } from "../domain/sms-consent.js";
import type { Database, LeadRow } from "../store/schema.js";
import { leadDocument } from "./leads.js";

// A lead's SMS consent, as LeadMetadata's sms… fields show it: leadtrail writes them when the person
// replies STOP, START or HELP, and when the organization suppresses or releases their phone through
// the suppressions API, on every lead of the organization at that phone (one person, several leads
// when a vendor delivered them twice). The suppression list stays what the gate enforces; these
// fields let a client see on the lead what happened, and metadata.smsOptedOut: false after a START
// or a release keeps the lead's own flag from blocking a person who consented again.

/**
 * The organization's leads at `phone`, locked until the transaction ends (PostgreSQL). Taken before a
 * suppression locks the messages to that phone: updateLead locks its lead, then its messages, and
 * the same order on both sides never deadlocks. Ordered by id, so two of these lock in one order.
 */
export async function lockLeadsAtPhone(
  trx: Transaction<Database>,
  organizationId: string,
  phone: string,
): Promise<LeadRow[]> {
  let query = trx
    .selectFrom("leads")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("phone", "=", phone)
    .orderBy("id");
  if (trx.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
  return query.execute();
}

/**
 * Records the change on each of `leads` (rows read under lockLeadsAtPhone) that does not show it yet.
 * `at`: when the person or the organization made it (an inbound message's receivedAt).
 */
export async function recordSmsConsent(
  trx: Transaction<Database>,
  leads: readonly LeadRow[],
  change: KeywordAction,
  phone: string,
  at: number,
): Promise<void> {
  for (const lead of leads) {
    const doc = leadDocument(lead);
    const metadata = withSmsConsent(doc.metadata, change, phone, at);
    if (!metadata) continue;
    await trx
      .updateTable("leads")
      // As updateLead: never before the lead's last change, never at its creation's millisecond.
      .set({
        document: JSON.stringify({ ...doc, metadata }),
        updated_at: Math.max(Date.now(), at, lead.updated_at, lead.created_at + 1),
      })
      .where("organization_id", "=", lead.organization_id)
      .where("id", "=", lead.id)
      .execute();
  }
}
