import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMessagingConfig } from "../src/config.js";

test("quiet hours: unset or empty is the default window, only 'off' lifts them", () => {
  const defaultWindow = { start: 21 * 60, end: 8 * 60 };
  assert.deepEqual(loadMessagingConfig({}).quietHours, defaultWindow);
  assert.deepEqual(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "" }).quietHours, defaultWindow);
  assert.equal(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off" }).quietHours, null);
  assert.deepEqual(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "22:30-07:00" }).quietHours, {
    start: 22 * 60 + 30,
    end: 7 * 60,
  });
});
