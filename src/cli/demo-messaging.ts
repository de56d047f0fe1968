import type { Kysely } from "kysely";
import { cancelMessage } from "../messaging/cancel.js";
import type { Messaging } from "../messaging/messaging.js";
import { sendSms } from "../messaging/send.js";
import { createLead } from "../services/leads.js";
import { createWallet } from "../store/billing-repo.js";
import { getConversationForLead } from "../store/leads-repo.js";
import type { CreatedOrganization } from "../store/orgs-repo.js";
import { newPhoneNumberRow } from "../store/phone-numbers-repo.js";
import type { Database } from "../store/schema.js";

// The demo's messaging: two sender numbers and messages that between them reach every status a
// timeline shows (the simulator decides outcomes by the recipient's last four digits).

const NUMBERS = [
  { prefix: "+1415555", name: "SF main line", isDefault: 1 },
  { prefix: "+1212555", name: "NYC line", isDefault: 0 },
];

/**
 * The first number of the form prefix + 01xx that no organization holds: a number belongs to one
 * organization, and a database may hold an earlier demo's (+14155550100, then …0101, …).
 */
async function freeNumber(db: Kysely<Database>, prefix: string): Promise<string> {
  const taken = new Set(
    (
      await db.selectFrom("phone_numbers").select("number").where("number", "like", `${prefix}01%`).execute()
    ).map((r) => r.number),
  );
  for (let n = 100; n < 200; n++) {
    const number = `${prefix}0${n}`;
    if (!taken.has(number)) return number;
  }
  throw new Error(`no free demo number left in ${prefix}01xx`);
}

const RECIPIENTS: Array<[string, string, string]> = [
  ["Olivia", "+14155550161", "Hi Olivia, thanks for requesting a quote! When is a good time to talk?"],
  ["Noah", "+12125550400", "Hi Noah, your home insurance quote is ready."],
  ["Emma", "+13125550500", "Hi Emma, following up on your solar estimate."],
  ["Liam", "+16175550600", "Hi Liam, checking in about your refinance request."],
  ["Ava", "+12065550700", "Hi Ava, your auto quote: $92/month. Reply YES to lock it in."],
  ["Mason", "+15125550800", "Hi Mason, just confirming our call tomorrow at 10."],
];

export async function seedDemoMessaging(
  db: Kysely<Database>,
  org: CreatedOrganization,
  pipeline: Messaging,
): Promise<void> {
  const actor = { organizationId: org.organizationId, userId: org.userId };
  const now = Date.now();
  await createWallet(db, org.organizationId, 10_000_000, now);
  const senders: string[] = [];
  for (const n of NUMBERS) {
    const number = await freeNumber(db, n.prefix);
    senders.push(number);
    await db
      .insertInto("phone_numbers")
      .values(
        newPhoneNumberRow(
          org.organizationId,
          {
            number,
            name: n.name,
            enabled: 1,
            sms_enabled: 1,
            source_id: null,
            campaign_id: null,
            ten_dlc_campaign_id: "CDEMO01",
            is_preferred: 0,
            is_default: n.isDefault,
            warmup_enabled: 0,
          },
          now,
        ),
      )
      .execute();
  }
  const conversations: string[] = [];
  for (const [firstName, phone, text] of RECIPIENTS) {
    const lead = await createLead(db, actor, {
      contact: { firstName, lastName: "Demo", phone: { number: phone } },
    });
    const conversation = await getConversationForLead(db, org.organizationId, lead.id);
    if (!conversation) continue;
    conversations.push(conversation.id);
    await sendSms(db, actor, { conversationId: conversation.id, text });
  }
  const first = conversations[0]!;
  // Scheduled for tomorrow, and one scheduled then canceled.
  const tomorrow = new Date(now + 86_400_000).toISOString();
  await sendSms(db, actor, {
    conversationId: first,
    text: "Reminder: your quote expires Friday.",
    scheduledFor: tomorrow,
  });
  const canceled = await sendSms(db, actor, {
    conversationId: first,
    text: "Sorry, wrong quote attached.",
    scheduledFor: tomorrow,
  });
  await cancelMessage(db, org.organizationId, canceled.event.id, "Sent by mistake");
  // A reply, then an opt-out, then a message that the suppression blocks.
  await pipeline.handleInbound({
    from: RECIPIENTS[0]![1],
    to: senders[0]!,
    text: "Tomorrow after 5 works",
    media: [],
    providerMessageId: null,
    receivedAt: Date.now(),
  });
  const stopper = RECIPIENTS[5]![1];
  await pipeline.handleInbound({
    from: stopper,
    to: senders[1]!,
    text: "STOP",
    media: [],
    providerMessageId: null,
    receivedAt: Date.now(),
  });
  await sendSms(db, actor, { conversationId: conversations[5]!, text: "One last offer!" });
  pipeline.poke();
}

/**
 * Waits (bounded) until no message of the organization is being sent or due now. A message waiting
 * for a later retry (the simulator's two transient errors) is not waited for: it stays Queued with
 * its retry time, and the next `leadtrail serve` sends it.
 */
export async function waitForDemoMessages(
  db: Kysely<Database>,
  organizationId: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = Date.now();
    const pending = await db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("organization_id", "=", organizationId)
      .where((eb) =>
        eb.or([
          eb("status", "=", "Sending"),
          eb.and([
            eb("status", "=", "Queued"),
            eb.or([eb("next_attempt_at", "is", null), eb("next_attempt_at", "<=", now)]),
          ]),
        ]),
      )
      .executeTakeFirst();
    if (Number(pending?.n ?? 0) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
