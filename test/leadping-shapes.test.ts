import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertLeadpingShape, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// Every kind of response body, checked against the contract subset's own component schema of that
// name (test/contract/leadping-components.json): a Leadping client deserializes these shapes.

forEachEngine("responses fit the subset's schemas", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  const ok = async (method: "GET" | "POST", url: string, body?: unknown, key?: string) => {
    const res = await api.call(method, url, body, key);
    assert.ok(res.statusCode >= 200 && res.statusCode < 300, `${method} ${url}: ${res.body}`);
    return res.json();
  };

  test("sources, leads, conversations, events, SMS, numbers, suppressions, wallet and usage", async () => {
    const source = await ok("POST", "/sources", {
      name: "Vendor",
      description: "Web forms",
      costPerLead: 2.5,
      allowedStates: ["CA"],
      defaultTagNames: ["vendor"],
    });
    assertLeadpingShape(source, "SourceResponse");
    assertLeadpingShape(await ok("GET", `/sources/${source.id}`), "SourceResponse");
    // A lead as Leadping requires it: with its TrustedForm certificate (LeadMetadata.trustedFormUrl).
    const lead = await ok(
      "POST",
      "/leads",
      {
        contact: {
          firstName: "Ana",
          lastName: "Ruiz",
          email: "ana@example.com",
          phone: { number: "(415) 555-0120" },
          streetAddress: { state: "CA" },
        },
        metadata: { trustedFormUrl: "https://cert.trustedform.com/abc", sellerLeadId: "v-1" },
        tagNames: ["hot"],
      },
      source.apiKey,
    );
    assertLeadpingShape(lead, "LeadResponse");
    assertLeadpingShape(await ok("GET", `/leads/${lead.id}`), "LeadResponse");
    assertLeadpingShape(await ok("POST", "/sources/all/my", {}), "PagedResultOfSourceTableRow");
    assertLeadpingShape(await ok("POST", "/leads/all/my", {}), "PagedResultOfLeadTableRow");

    const conversations = await ok("POST", `/conversations/lead/${lead.id}`, {});
    assertLeadpingShape(conversations, "PagedResultOfConversationResponse");
    const conversationId = conversations.items[0].id as string;
    const note = await ok("POST", `/events/conversations/${conversationId}/notes`, { text: "Call at 5" });
    assertLeadpingShape(await ok("GET", `/events/detail/${note.id}`), "EventDetailResponse");

    const number = await ok("POST", "/phone-numbers", { number: "+14155550111", name: "Main" });
    assertLeadpingShape(number, "PhoneNumberResponse");
    assertLeadpingShape(await ok("GET", `/phone-numbers/${number.id}`), "PhoneNumberResponse");
    assertLeadpingShape(
      await ok("POST", "/phone-numbers/all/organization", {}),
      "PagedResultOfPhoneNumberTableRow",
    );
    assertLeadpingShape(
      await ok("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, {}),
      "OutgoingNumberSelectionResponse",
    );

    const sms = await ok("POST", "/sms/send", { conversationId, text: "Hi Ana, this is Acme." });
    assertLeadpingShape(sms, "SmsResponse");
    assertLeadpingShape(await ok("GET", `/events/sms/${sms.id}`), "SmsEventTableRow");
    assertLeadpingShape(await ok("POST", "/events/sms/all/my", {}), "PagedResultOfSmsEventTableRow");
    assertLeadpingShape(await ok("POST", "/events/all/my", {}), "PagedResultOfEventTableRow");

    const entry = { organizationId: api.org.organizationId, phoneNumber: "(415) 555-0199" };
    assertLeadpingShape(await ok("POST", "/suppressions", entry), "SuppressionEntryResponse");
    assertLeadpingShape(await ok("POST", "/suppressions/check", entry), "SuppressionCheckResult");
    assertLeadpingShape(
      await ok("POST", "/suppressions/all/my", {}),
      "PagedResultOfSuppressionEntryResponse",
    );

    assertLeadpingShape(await ok("GET", "/wallets/me"), "WalletResponse");
    assertLeadpingShape(await ok("GET", "/usage/summary/my"), "UsageSummaryResponse");
    assertLeadpingShape(await ok("POST", "/usage/all/my", {}), "PagedResultOfUsageLedgerTableRow");
  });

  test("the check has teeth: a wrong type, a missing required property, a value off an enum", () => {
    assert.throws(() => assertLeadpingShape({ id: 7 }, "SourceResponse"), /SourceResponse violated/);
    assert.throws(() => assertLeadpingShape({ user: { id: "usr_1" } }, "SourceResponse"), /name/);
    assert.throws(() => assertLeadpingShape({ status: "lost" }, "SmsResponse"), /SmsResponse violated/);
    assertLeadpingShape({ status: null, user: null }, "SmsResponse");
  });
});
