import { parsePhoneNumberFromString as parseWithTypes } from "libphonenumber-js/max";
import { needsTenDlc } from "./number-geo.js";

// Which senders the 10DLC rule applies to. 10DLC registration covers 10-digit long codes (local
// numbers) only: a NANP toll-free number (800, 833, 844, 855, 866, 877, 888) sends under toll-free
// verification instead, so it needs no 10DLC campaign, and a message from it goes under none.
//
// The number type comes from libphonenumber's "max" metadata: its documentation gives getType() only
// there (the default "min" metadata may answer undefined), and it follows the 8XX codes the NANP
// administrator opens, as a list of our own would not.

export interface TenDlcSender {
  number: string;
  ten_dlc_campaign_id: string | null;
}

/**
 * Asked for the sender of every message the gate passes, and a parse with the full metadata costs
 * about 10 µs: the answers are kept, per number (an organization has a few), up to a bound.
 */
const tollFreeByNumber = new Map<string, boolean>();
const REMEMBERED_NUMBERS = 10_000;

/** A NANP toll-free number (+1 8XX). */
export function isNanpTollFree(e164: string): boolean {
  let tollFree = tollFreeByNumber.get(e164);
  if (tollFree === undefined) {
    const parsed = parseWithTypes(e164);
    tollFree = parsed?.countryCallingCode === "1" && parsed.getType() === "TOLL_FREE";
    if (tollFreeByNumber.size >= REMEMBERED_NUMBERS) tollFreeByNumber.clear();
    tollFreeByNumber.set(e164, tollFree);
  }
  return tollFree;
}

/** Whether sending from `senderNumber` to `recipient` takes a 10DLC campaign on the sender. */
export function senderNeedsTenDlc(senderNumber: string, recipient: string): boolean {
  return needsTenDlc(recipient) && !isNanpTollFree(senderNumber);
}

/**
 * The 10DLC campaign a message from `sender` goes under: its routing.tenDlcCampaignId, or none for a
 * toll-free number (a campaign id set on one cannot apply to it).
 */
export function tenDlcCampaignOf(sender: TenDlcSender): string | null {
  return isNanpTollFree(sender.number) ? null : sender.ten_dlc_campaign_id;
}
