import type { Kysely, Transaction } from "kysely";
import { areaCode, needsTenDlc, regionOfNumber } from "../domain/number-geo.js";
import { type Selection, type SenderCandidate, selectSender } from "../domain/sender-selection.js";
import { isNanpTollFree } from "../domain/ten-dlc.js";
import { rampTime, warmupState } from "../domain/warmup.js";
import { phoneNumbersWithHealth } from "../store/phone-numbers-repo.js";
import type { ConversationRow, Database, PhoneNumberRow } from "../store/schema.js";

type Db = Kysely<Database> | Transaction<Database>;

export interface SenderRequest {
  organizationId: string;
  conversation: ConversationRow | null;
  leadAssignedPhoneNumberId: string | null;
  /** fromPhoneNumberId of the request; a manual choice only with wasManuallyOverridden. */
  fromPhoneNumberId: string | null;
  wasManuallyOverridden: boolean;
  campaignId: string | null;
  sourceId: string | null;
  recipient: string | null;
}

export interface SenderChoice {
  selection: Selection | null;
  candidates: SenderCandidate[];
  rows: Map<string, PhoneNumberRow>;
}

export async function senderCandidates(db: Db, organizationId: string, now = Date.now()) {
  const { rows, health } = await phoneNumbersWithHealth(db, organizationId, now);
  const candidates = rows.map(
    (r): SenderCandidate => ({
      id: r.id,
      number: r.number,
      enabled: r.enabled === 1,
      smsEnabled: r.sms_enabled === 1,
      health: health.get(r.id) ?? "Healthy",
      sourceId: r.source_id,
      campaignId: r.campaign_id,
      isPreferred: r.is_preferred === 1,
      isDefault: r.is_default === 1,
      lastUsedAt: r.last_used_at,
      areaCode: areaCode(r.number),
      region: regionOfNumber(r.number),
      hasTenDlcCampaign: Boolean(r.ten_dlc_campaign_id),
      isTollFree: isNanpTollFree(r.number),
      warmingUp:
        r.warmup_enabled === 1 &&
        warmupState(true, r.warmup_started_at, rampTime(r.warmup_paused_at, now)) !== "Ready",
    }),
  );
  return { candidates, rows: new Map(rows.map((r) => [r.id, r])) };
}

export type SenderPool = Awaited<ReturnType<typeof senderCandidates>>;

/** Chooses the sender for one outbound message (see domain/sender-selection.ts for the precedence). */
export async function chooseSender(db: Db, request: SenderRequest, now = Date.now()): Promise<SenderChoice> {
  return chooseFrom(await senderCandidates(db, request.organizationId, now), request);
}

/** The same choice among numbers already loaded (so the caller can load them beside other reads). */
export function chooseFrom({ candidates, rows }: SenderPool, request: SenderRequest): SenderChoice {
  const manual =
    (request.wasManuallyOverridden ? request.fromPhoneNumberId : null) ??
    request.conversation?.override_phone_number_id ??
    null;
  const recipient = request.recipient;
  const selection = selectSender(candidates, {
    manualPhoneNumberId: manual,
    stickyPhoneNumberId: request.conversation?.last_phone_number_id ?? null,
    leadAssignedPhoneNumberId: request.leadAssignedPhoneNumberId,
    campaignId: request.campaignId,
    sourceId: request.sourceId,
    recipientAreaCode: recipient ? areaCode(recipient) : null,
    recipientRegion: recipient ? regionOfNumber(recipient) : null,
    recipientNeedsTenDlc: recipient !== null && needsTenDlc(recipient),
  });
  return { selection, candidates, rows };
}
