import type { Settings } from "../config/settings.js";
import type { GraphCounters } from "../graph/client.js";
import type { TenantGraphHandle } from "../graph/tenant-graph.js";
import type { Logger } from "../log.js";
import type { Mailer, RetryOptions } from "../mail/mailer.js";
import type { SecretStore } from "../secrets/store.js";
import type { TenantSignIn } from "../secrets/federated.js";
import type { Tenant } from "../tenants/model.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { AlertIntentStore } from "./intents.js";
import type { SecretFactsStore } from "../state/secret-facts.js";

/** The adapters the secret expiry use cases need; the App satisfies it, tests wire their own parts in. */
export interface ExpiryDeps {
  settings: Settings;
  log: Logger;
  clock: () => Date;
  tenants: TenantRegistry;
  secrets: SecretStore;
  secretFacts: SecretFactsStore;
  alertIntents: AlertIntentStore;
  mailer: Mailer;
  graphFor(tenant: Tenant, signIn: TenantSignIn, counters: GraphCounters): Pick<TenantGraphHandle, "graph">;
  /** Retries of one send (default 3 attempts, 2 s doubling). */
  mailRetry?: RetryOptions;
}
