import type { MessagingConfig } from "../../config.js";
import type { Provider, ProviderEvents } from "../provider.js";
import { SimulatorProvider } from "./simulator.js";

/** The provider LEADTRAIL_PROVIDER names, delivering its receipts and inbound messages to `events`. */
export function createProvider(config: MessagingConfig, events: ProviderEvents): Provider {
  switch (config.provider) {
    case "simulator":
      return new SimulatorProvider(events);
    case "telnyx":
      throw new Error("LEADTRAIL_PROVIDER=telnyx is not available in this build yet");
  }
}
