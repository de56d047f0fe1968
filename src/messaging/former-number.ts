import { type ExpressionBuilder, type Kysely, sql } from "kysely";
import type { Database } from "../store/schema.js";

// A number an organization deleted is no longer any organization's, yet the provider may still
// deliver to it (the number is released there later, or never), and a person who was texted from it
// replies STOP to it. The opt-out must be recorded all the same (TCPA: a revocation by any
// reasonable means), so it is attributed to the organizations that texted that person from that
// number: their messages say so. Nothing else is: an ordinary message, START or HELP to a deleted
// number has no one to answer it and is dropped, and so is a STOP to a number no organization ever
// texted that person from (nothing says whose it would be).
//
// Once another organization has added the number, a STOP to it is that holder's, and still also
// each former sender's: the person may be answering the texts the former organization sent from it.
// Every organization that ever texted them from it counts, however long ago, without weighing whose
// texts came last: honouring one STOP too widely costs a message not sent, missing one is a TCPA
// violation. Only the opt-out goes so far: a START or HELP is the holder's alone, since consent to
// one sender is no consent to another.

/** An organization that texted a person from a number it has since deleted. */
export interface FormerSender {
  organizationId: string;
  /** The id the number had in the organization (its messages name it), null if they name none. */
  phoneNumberId: string | null;
}

/**
 * The latest message of the organization `o` that was handed to a provider from `number` to `person`.
 * Read through events_by_to_phone (organization, recipient, newest first).
 */
function lastHandedOver(
  eb: ExpressionBuilder<Database & { o: Database["organizations"] }, "o">,
  number: string,
  person: string,
) {
  return eb
    .selectFrom("events as e")
    .select(sql<string>`coalesce(e.from_phone_number_id, '')`.as("id"))
    .whereRef("e.organization_id", "=", "o.id")
    .where("e.to_phone_number", "=", person)
    .where("e.from_phone_number", "=", number)
    .where("e.direction", "=", "outbound")
    .where("e.sending_started_at", "is not", null)
    .orderBy("e.created_at", "desc")
    .orderBy("e.id", "desc")
    .limit(1);
}

/**
 * The organizations that texted `person` from `number` (no longer any organization's), by id.
 * One statement, probing events_by_to_phone once per organization, and so it stays: every index of
 * events begins with organization_id, so skipping the probes would need an index on every message's
 * recipient and sender alone, written by every send for the sake of a STOP, or a record of deleted
 * numbers that a migration would fill by reading every message. The probes cost 6 to 30 ms a STOP
 * with 10,000 organizations (SQLite, measured none of them texting the person), and STOPs are rare
 * beside sends.
 */
export async function formerSenders(
  db: Kysely<Database>,
  number: string,
  person: string,
): Promise<FormerSender[]> {
  const rows = await db
    .selectFrom("organizations as o")
    .select((eb) => ["o.id", lastHandedOver(eb, number, person).as("phone_number_id")])
    .orderBy("o.id")
    .execute();
  return rows.flatMap((r) =>
    r.phone_number_id === null ? [] : [{ organizationId: r.id, phoneNumberId: r.phone_number_id || null }],
  );
}
