import type { MessagingConfig } from "../config.js";
import type { Messaging } from "../messaging/messaging.js";
import type { Store } from "../store/store.js";

/** What route plugins are given. */
export interface RouteDeps {
  store: Store;
  messaging: MessagingConfig;
  /** The messaging engine: receipts and inbound messages land here; poke() wakes the local worker. */
  pipeline: Messaging;
}
