import { type Kysely, type Migration, sql } from "kysely";

// A suppression's recipientIdentifier as the client gave it (Leadping: "provider or customer
// identifier"), beside the phone number or email it is matched by. Entries made before keep the
// identifier they were answered with: their normalized recipient.
export const suppressionIdentifiers: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("suppressions").addColumn("recipient_identifier", "text").execute();
    await sql`update suppressions set recipient_identifier = recipient`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable("suppressions").dropColumn("recipient_identifier").execute();
  },
};
