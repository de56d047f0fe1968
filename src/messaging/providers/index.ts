import type { MessagingConfig } from "../../config.js";
import type { Provider, ProviderEvents } from "../provider.js";
import { SimulatorProvider } from "./simulator.js";
import { TelnyxProvider } from "./telnyx.js";

/** The provider LEADTRAIL_PROVIDER names, delivering its receipts and inbound messages to `events`. */
export function createProvider(config: MessagingConfig, events: ProviderEvents): Provider {
  switch (config.provider) {
    case "simulator":
      return new SimulatorProvider(events);
    case "telnyx": {
      if (!config.telnyx.apiKey) throw new Error("LEADTRAIL_PROVIDER=telnyx needs TELNYX_API_KEY");
      if (!config.telnyx.publicKey)
        throw new Error("LEADTRAIL_PROVIDER=telnyx needs TELNYX_PUBLIC_KEY to verify webhooks");
      return new TelnyxProvider({
        apiKey: config.telnyx.apiKey,
        apiBaseUrl: config.telnyx.apiBaseUrl,
        publicUrl: config.publicUrl,
      });
    }
  }
}
