import { TelnyxProvider } from "../../src/messaging/providers/telnyx.js";
import { webhookUrlQuery } from "../../src/messaging/providers/telnyx-webhook-url.js";
import { createWallet } from "../../src/store/billing-repo.js";
import type { Engine } from "../../src/store/database.js";
import { startTestApi, type TestApi } from "./api.js";
import { FakeTelnyx, type FakeTelnyxOptions } from "./fake-telnyx.js";
import { addLead, addSenderNumber, isFinal, waitForEvent } from "./messaging.js";

// A test API on Telnyx: its settings pointing at a fake Telnyx server, signed webhooks posted
// through the app, and a worker that sends through the fake.

/** The settings of a deployment on Telnyx whose API is the fake at `url`. */
export const telnyxEnv = (fake: FakeTelnyx, url: string): NodeJS.ProcessEnv => ({
  LEADTRAIL_PROVIDER: "telnyx",
  TELNYX_API_KEY: "KEYtest",
  TELNYX_PUBLIC_KEY: fake.publicKeyBase64,
  TELNYX_API_BASE_URL: `${url}/v2`,
  LEADTRAIL_PUBLIC_URL: "http://127.0.0.1:9",
  LEADTRAIL_QUIET_HOURS: "off",
  LEADTRAIL_RETRY_BASE_SECONDS: "0.01",
});

/** POSTs a webhook body through the app, signed by `fake` unless `headers` are given. */
export function postWebhook(
  api: TestApi,
  fake: FakeTelnyx,
  body: unknown,
  options: { query?: string; headers?: Record<string, string>; raw?: string } = {},
) {
  const raw = options.raw ?? JSON.stringify(body);
  return api.app.inject({
    method: "POST",
    url: `/webhooks/telnyx${options.query ?? ""}`,
    headers: options.headers ?? fake.signedHeaders(raw),
    payload: raw,
  });
}

/** Starts the API's worker on the fake Telnyx at `url` (a send call times out after `timeoutMs`). */
export function startTelnyxWorker(api: TestApi, url: string, timeoutMs = 500) {
  return api.pipeline.startWorker(
    new TelnyxProvider({
      apiKey: "KEYtest",
      apiBaseUrl: `${url}/v2`,
      publicUrl: "http://127.0.0.1:9",
      webhookUrlSecret: api.db.store.webhookUrlSecret,
      timeoutMs,
    }),
    { pollMs: 10 },
  );
}

/** The query of the webhook_url the provider gives Telnyx for `row`: `?event=…&org=…&sig=…`. */
export const signedQuery = (api: TestApi, row: { id: string; organization_id: string }) =>
  `?${webhookUrlQuery(api.db.store.webhookUrlSecret, { organizationId: row.organization_id, eventId: row.id })}`;

/** The query string of the webhook_url a message was handed to Telnyx with. */
export const queryOf = (request: { body: { webhook_url?: string } }) =>
  new URL(request.body.webhook_url!).search;

/** Our message id a request to Telnyx names in its webhook_url (`?event=…`), null without one. */
export const eventIdOf = (request: { body: { webhook_url?: string } }) =>
  request.body.webhook_url ? new URL(request.body.webhook_url).searchParams.get("event") : null;

/**
 * A test API on a fake Telnyx, with a sender number, credit and its worker running; `env`: settings
 * beside telnyxEnv's.
 */
export async function startTelnyxApi(
  engine: Engine,
  options: FakeTelnyxOptions = {},
  env: NodeJS.ProcessEnv = {},
) {
  const fake = new FakeTelnyx(options);
  const url = await fake.start();
  const api = await startTestApi(engine, { env: { ...telnyxEnv(fake, url), ...env } });
  await addSenderNumber(api);
  await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
  startTelnyxWorker(api, url);
  return { api, fake };
}

/** Sends "Quote ready" to a new lead at `phone` and waits until it is Sent or final. */
export async function sendToLead(api: TestApi, phone: string) {
  const { conversationId } = await addLead(api, phone);
  const sms = (await api.call("POST", "/sms/send", { conversationId, text: "Quote ready" })).json();
  const sent = await waitForEvent(api, sms.id, (e) => e.status === "Sent" || isFinal(e));
  return { sms, sent };
}
