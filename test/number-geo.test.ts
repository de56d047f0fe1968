import assert from "node:assert/strict";
import { test } from "node:test";
import { needsTenDlc, regionOfNumber, zonesForNumber } from "../src/domain/number-geo.js";
import { placeOfNumber, timeZonesOfNumber } from "../src/domain/number-geo-data.js";
import { isNanpTollFree, senderNeedsTenDlc, tenDlcCampaignOf } from "../src/domain/ten-dlc.js";

test("time zones come from libphonenumber's prefix table, longest prefix first", () => {
  assert.deepEqual(timeZonesOfNumber("+14155550142"), ["America/Los_Angeles"]);
  assert.deepEqual(timeZonesOfNumber("+12125550142"), ["America/New_York"]);
  assert.deepEqual(timeZonesOfNumber("+442071234567"), ["Europe/London"]);
  assert.deepEqual(zonesForNumber("+13125550142"), ["America/Chicago"]);
});

test("place names come from the geocoding table; regions are their state or province codes", () => {
  assert.match(placeOfNumber("1", "4155550142") ?? "", /CA$|California/);
  assert.equal(placeOfNumber("1", "0000000000"), null);
  assert.equal(placeOfNumber("../..", "1"), null, "never a path outside the tables");
  assert.equal(regionOfNumber("+12015550100"), "NJ");
  assert.equal(regionOfNumber("+14165550100"), "ON");
  assert.equal(regionOfNumber("+442071234567"), null);
});

test("10DLC applies to US and Canadian numbers only", () => {
  assert.equal(needsTenDlc("+14155550142"), true);
  assert.equal(needsTenDlc("+14165550100"), true);
  assert.equal(needsTenDlc("+442071234567"), false);
});

test("a NANP toll-free sender (8XX) needs no 10DLC campaign; a local one does", () => {
  for (const code of ["800", "833", "844", "855", "866", "877", "888"]) {
    assert.equal(isNanpTollFree(`+1${code}5550150`), true, code);
    assert.equal(senderNeedsTenDlc(`+1${code}5550150`, "+14155550142"), false, code);
  }
  // Reserved for toll-free but not in service, premium, local, and foreign numbers are not toll-free.
  for (const number of ["+18225550150", "+18805550150", "+19005550150", "+14155550150", "+442071234567"])
    assert.equal(isNanpTollFree(number), false, number);
  assert.equal(senderNeedsTenDlc("+14155550150", "+14155550142"), true);
  assert.equal(senderNeedsTenDlc("+14155550150", "+442071234567"), false);
  assert.equal(tenDlcCampaignOf({ number: "+18885550150", ten_dlc_campaign_id: "C1" }), null);
  assert.equal(tenDlcCampaignOf({ number: "+14155550150", ten_dlc_campaign_id: "C1" }), "C1");
});
