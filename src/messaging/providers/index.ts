import type { MessagingConfig } from "../../config.js";
import { type Provider, type ProviderEvents, sendCallTimeoutMs } from "../provider.js";
import { SimulatorProvider } from "./simulator.js";
import { TelnyxProvider } from "./telnyx.js";
import { telnyxPublicKey } from "./telnyx-webhook.js";

/** Throws naming what the provider LEADTRAIL_PROVIDER names lacks (checked before the database opens). */
export function checkProviderSettings(config: MessagingConfig): void {
  if (config.provider !== "telnyx") return;
  if (!config.telnyx.apiKey) throw new Error("LEADTRAIL_PROVIDER=telnyx needs TELNYX_API_KEY");
  if (!config.telnyx.publicKey)
    throw new Error("LEADTRAIL_PROVIDER=telnyx needs TELNYX_PUBLIC_KEY to verify webhooks");
  // Read here, before the database opens, not first when the webhook route is registered.
  telnyxPublicKey(config.telnyx.publicKey);
}

/**
 * The provider LEADTRAIL_PROVIDER names, delivering its receipts and inbound messages to `events`;
 * `webhookUrlSecret` (Store.webhookUrlSecret) signs the webhook URLs it gives Telnyx.
 */
export function createProvider(
  config: MessagingConfig,
  events: ProviderEvents,
  webhookUrlSecret: Buffer,
): Provider {
  checkProviderSettings(config);
  switch (config.provider) {
    case "simulator":
      return new SimulatorProvider(events, Math.round(config.simulatorReceiptSeconds * 1000));
    case "telnyx": {
      if (!config.telnyx.apiKey) throw new Error("LEADTRAIL_PROVIDER=telnyx needs TELNYX_API_KEY");
      return new TelnyxProvider({
        apiKey: config.telnyx.apiKey,
        apiBaseUrl: config.telnyx.apiBaseUrl,
        publicUrl: config.publicUrl,
        ...(config.failoverPublicUrl === null ? {} : { failoverPublicUrl: config.failoverPublicUrl }),
        webhookUrlSecret,
        // Over before the reconcile deadline can end the message ProviderOutcomeUnknown.
        timeoutMs: sendCallTimeoutMs(config.reconcileSeconds),
      });
    }
  }
}
