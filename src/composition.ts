import { AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential } from "@azure/identity";
import type { TokenCredential } from "@azure/core-auth";
import { SecretClient } from "@azure/keyvault-secrets";
import { endpointsFor } from "./config/clouds.js";
import type { Settings } from "./config/settings.js";
import { ConnectorSpace } from "./connector/space.js";
import type { PlatformDirectory } from "./directory/directory.js";
import { TablePlatformDirectory } from "./directory/table-directory.js";
import { createGraphClient, newGraphCounters, type GraphCounters } from "./graph/client.js";
import { SdkTenantGraph } from "./graph/sdk-graph.js";
import type { TenantGraphHandle } from "./graph/tenant-graph.js";
import { withTenantDiagnosis } from "./graph/credential.js";
import { EntraSyncError } from "./errors.js";
import { consoleLogger, registerSecretValue, type Logger } from "./log.js";
import { createQueueClient, JobQueue } from "./queue/jobs.js";
import { RunStore } from "./runs/store.js";
import { HealthStore, healthObserver } from "./runs/health.js";
import { LeaseStore } from "./runs/lease.js";
import type { ClientSecret } from "./secrets/store.js";
import { federatedCredential, isFederatedSignIn, signInFor, type TenantSignIn } from "./secrets/federated.js";
import { SecretStore } from "./secrets/store.js";
import { CheckpointStore } from "./state/checkpoints.js";
import { createTableClients, ensureTables, type TableClients } from "./state/tables-client.js";
import { QUEUES } from "./state/tables.js";
import type { Tenant } from "./tenants/model.js";
import type { RunObserver } from "./runs/observer.js";
import { TenantRegistry } from "./tenants/registry.js";
import { AlertIntentStore } from "./expiry/intents.js";
import { createExpiryObserver } from "./expiry/observer.js";
import { SecretFactsStore } from "./state/secret-facts.js";
import { createMailer, type Mailer } from "./mail/index.js";
import { SharedWriteBudget, type WritePacer } from "./graph/write-budget.js";
import { ScimAudit } from "./scim/audit.js";
import { ScimEndpoint } from "./scim/endpoint.js";
import { ScimGroupStore } from "./scim/groups.js";
import { RateLimiter } from "./scim/rate-limit.js";
import { ScimTokenStore } from "./scim/tokens.js";
import { extensionsOf, ScimSettingsStore } from "./scim/settings.js";
import { TableAuditLog, type AuditLog } from "./audit/store.js";
import { HoldIndex } from "./runs/hold.js";
import { operatorAlertObserver } from "./alerts/operator.js";
import { NotificationRows } from "./state/subscriptions.js";
import { SdkSubscriptionGraph, type SubscriptionGraph } from "./graph/subscriptions.js";
import { followUpObserver } from "./notifications/follow-up.js";

export interface AppOptions {
  settings: Settings;
  /** Extra CA (PEM) to trust for Entra, Graph and Key Vault: the local simulator's certificate. */
  ca?: string | undefined;
  log?: Logger;
  clock?: () => Date;
  /** Replaces the platform directory adapter (default: Table Storage). */
  directory?: PlatformDirectory;
}

/** Every adapter of the app, built once from the validated settings. Use cases receive what they need from here. */
export interface App {
  settings: Settings;
  log: Logger;
  clock: () => Date;
  ca: string | undefined;
  platformCredential: TokenCredential;
  tables: TableClients;
  tenants: TenantRegistry;
  secrets: SecretStore;
  connector: ConnectorSpace;
  directory: PlatformDirectory;
  checkpoints: CheckpointStore;
  runs: RunStore;
  /** The one-run-per-tenant lease (and when the next scheduled run is due). */
  leases: LeaseStore;
  /** Tenant health: consecutive failures, backoff, quarantine. */
  health: HealthStore;
  /** Per-tenant secret facts (expiry, source, version) in the tenant state table, row "secret". */
  secretFacts: SecretFactsStore;
  /** Exactly-once bookkeeping of alert mails (alerts table). */
  alertIntents: AlertIntentStore;
  /** The alert mail transport chosen by MAIL_TRANSPORT. */
  mailer: Mailer;
  queue: JobQueue;
  /**
   * A tenant's Microsoft Graph (counting into `counters`) and the one credential it signs in with, for its cloud: the
   * tenant's own app and client secret, or (a federated tenant) the platform's app with the managed identity's assertion.
   */
  graphFor(tenant: Tenant, signIn: TenantSignIn, counters: GraphCounters): TenantGraphHandle;
  /** What a tenant signs in with: its client secret from Key Vault, or nothing to read for a federated tenant. */
  signInFor(tenant: Tenant): Promise<TenantSignIn>;
  /** Graph's write budget of a tenant's app, shared by every invocation and process (GRAPH_WRITE_LIMIT per GRAPH_WRITE_WINDOW_SECONDS). */
  writeBudget(tenant: Pick<Tenant, "tenantId" | "clientId">): WritePacer;
  /** Called after every run ends; capabilities add themselves here when the app is built. */
  runObservers: RunObserver[];
  /** Creates tables and queues that do not exist (local stack; in Azure the template made them). */
  ensureStorage(): Promise<void>;
  /** The SCIM endpoint Entra's provisioning service pushes users to, its Secret Tokens and its audit trail. */
  scim: ScimEndpoint;
  scimTokens: ScimTokenStore;
  scimAudit: ScimAudit;
  /** Each tenant's SCIM settings (custom extension attributes). */
  scimSettings: ScimSettingsStore;
  /** The audit log (entries beside the platform directory's users; the directory adapter writes its own). */
  audit: AuditLog;
  /** Each tenant's Graph change notification subscription and setting (tenant state rows `notifications`). */
  notificationRows: NotificationRows;
  /** Held runs by run id (tenant state partition `!holds`), for approving them by run id alone. */
  holds: HoldIndex;
  /** A tenant's Graph `/subscriptions`, signed in as its runs are (requests are counted nowhere: not a run's). */
  subscriptionGraphFor(tenant: Tenant, signIn: TenantSignIn): SubscriptionGraph;
}

export function createPlatformCredential(settings: Settings, ca?: string): TokenCredential {
  const c = settings.platformCredential;
  switch (c.kind) {
    case "managed-identity":
      return new ManagedIdentityCredential();
    case "azure-cli":
      return new AzureCliCredential();
    case "client-secret": {
      const host = settings.entraAuthorityHost;
      return new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, {
        ...(host ? { authorityHost: host, disableInstanceDiscovery: true } : {}),
        ...(ca ? { tlsOptions: { ca } } : {}),
      });
    }
  }
}

export function createApp(o: AppOptions): App {
  const { settings, ca } = o;
  // Defence in depth: loggers made by redactingLogger mask these values should one ever reach a log line.
  if (settings.platformCredential.kind === "client-secret") registerSecretValue(settings.platformCredential.clientSecret);
  if (settings.statusPage.key) registerSecretValue(settings.statusPage.key);
  if (settings.mail.smtpUrl) {
    const password = URL.canParse(settings.mail.smtpUrl) ? decodeURIComponent(new URL(settings.mail.smtpUrl).password) : "";
    if (password) registerSecretValue(password);
  }
  const log = o.log ?? consoleLogger;
  const clock = o.clock ?? (() => new Date());
  const platformCredential = createPlatformCredential(settings, ca);
  const tables = createTableClients(settings.storage, platformCredential);
  const secretClient = new SecretClient(settings.keyVaultUrl, platformCredential, {
    // The SDK checks that the resource a vault's 401 challenge names is the vault's own domain, so that no other host
    // gets a token for it; only the local simulator on a loopback address (validated in settings) cannot pass that.
    disableChallengeResourceVerification: settings.keyVaultLocalStack,
    ...(ca ? { tlsOptions: { ca } } : {}),
  });
  const health = new HealthStore(tables.tenantState, clock);
  const queue = new JobQueue(createQueueClient(settings.storage, platformCredential));
  const secretCredential = (tenant: Tenant, secret: ClientSecret): TokenCredential => {
    const ep = endpointsFor(tenant.cloud, settings);
    return new ClientSecretCredential(tenant.tenantId, tenant.clientId, secret.value, {
      authorityHost: ep.authorityHost,
      ...(ep.custom ? { disableInstanceDiscovery: true } : {}),
      ...(ca ? { tlsOptions: { ca } } : {}),
    });
  };
  // The user-assigned identity whose token is the federated app's client assertion; made once, on first use (its
  // MSAL source is chosen at the first token request of the process).
  let assertionSource: TokenCredential | undefined;
  const federationCredential = (tenant: Tenant): TokenCredential => {
    const f = settings.federation;
    if (!f)
      throw new EntraSyncError("CONFIG_INVALID", `Tenant ${tenant.tenantId} is federated but FEDERATED_APP_CLIENT_ID and MANAGED_IDENTITY_CLIENT_ID are not set: set them (the deployment's outputs), or register the tenant with a client secret.`, { retryable: false });
    assertionSource ??= new ManagedIdentityCredential({ clientId: f.managedIdentityClientId, ...(ca ? { tlsOptions: { ca } } : {}) });
    const ep = endpointsFor(tenant.cloud, settings);
    return federatedCredential({ tenant, appClientId: tenant.clientId, assertionSource, authorityHost: ep.authorityHost, custom: ep.custom, ca });
  };
  const connector = new ConnectorSpace(tables.connectorSpace);
  // Platform-side writes (imports, SCIM) mark the linked Entra users' rows for Immutable ID sync's incremental plan.
  const tenants = new TenantRegistry(tables.tenants, clock);
  const directory =
    o.directory ??
    new TablePlatformDirectory(tables.platformUsers, {
      onPlatformEdit: (tenantId, ids) => connector.markDirty(tenantId, ids),
      sensitive: settings.audit.sensitive,
      sensitiveFor: async (t) => (await tenants.get(t))?.sensitiveAttributes ?? [],
      clock,
    });
  const app: App = {
    ...scimParts(tables, directory, clock, log, connector),
    settings,
    log,
    clock,
    ca,
    platformCredential,
    tables,
    tenants,
    secrets: new SecretStore(secretClient),
    connector,
    directory,
    checkpoints: new CheckpointStore(tables.tenantState),
    runs: new RunStore(tables.runs),
    leases: new LeaseStore(tables.tenantState, clock),
    health,
    secretFacts: new SecretFactsStore(tables.tenantState),
    alertIntents: new AlertIntentStore(tables.alerts, clock),
    mailer: createMailer(settings.mail, platformCredential),
    queue,
    audit: new TableAuditLog(tables.platformUsers),
    runObservers: [healthObserver(health)],
    signInFor: (tenant) => signInFor(app, tenant),
    graphFor(tenant, signIn, counters) {
      const ep = endpointsFor(tenant.cloud, settings);
      const ref = { tenantId: tenant.tenantId, clientId: tenant.clientId, auth: tenant.auth };
      // One credential for the Graph client and the token's roles (tenant check, Immutable ID sync): an unknown
      // tenant is named as such on both paths.
      const credential = withTenantDiagnosis(isFederatedSignIn(signIn) ? federationCredential(tenant) : secretCredential(tenant, signIn), { authorityHost: ep.authorityHost, tenant: ref, ca });
      const client = createGraphClient({ graphBaseUrl: ep.graphBaseUrl, credential, counters, ca });
      return { graph: new SdkTenantGraph(client, { ...ref, cloud: tenant.cloud }, counters, ep.graphBaseUrl, credential), credential, graphBaseUrl: ep.graphBaseUrl };
    },
    notificationRows: new NotificationRows(tables.tenantState),
    holds: new HoldIndex(tables.tenantState),
    subscriptionGraphFor(tenant, signIn) {
      const handle = app.graphFor(tenant, signIn, newGraphCounters());
      const client = createGraphClient({ graphBaseUrl: handle.graphBaseUrl, credential: handle.credential, counters: newGraphCounters(), ca });
      return new SdkSubscriptionGraph(client, { tenantId: tenant.tenantId, clientId: tenant.clientId, cloud: tenant.cloud });
    },
    writeBudget: (tenant) =>
      new SharedWriteBudget(tables.tenantState, tenant.tenantId, tenant.clientId, { writes: settings.graphWriteLimit.writes, windowMs: settings.graphWriteLimit.windowSeconds * 1000 }),
    async ensureStorage() {
      await ensureTables(tables);
      await queue.ensure();
      await createQueueClient(settings.storage, platformCredential, QUEUES.syncJobsPoison).createIfNotExists();
    },
  };
  app.runObservers.push(createExpiryObserver(app));
  app.runObservers.push(operatorAlertObserver(app));
  app.runObservers.push(followUpObserver(app));
  return app;
}

function scimParts(tables: TableClients, directory: PlatformDirectory, clock: () => Date, log: Logger, connector: ConnectorSpace): Pick<App, "scim" | "scimTokens" | "scimAudit" | "scimSettings"> {
  const scimTokens = new ScimTokenStore(tables.scimTokens, clock);
  const scimAudit = new ScimAudit(tables.scimAudit);
  const scimSettings = new ScimSettingsStore(tables.scimSettings);
  const tenantConfig = async (tenantId: string) => {
    const s = await scimSettings.cached(tenantId);
    return { ...s, extensions: extensionsOf(s) };
  };
  const scim = new ScimEndpoint({ directory, tokens: scimTokens, audit: scimAudit, groups: new ScimGroupStore(tables.scimGroups), limiter: new RateLimiter(), clock, log, tenantConfig, connector });
  return { scim, scimTokens, scimAudit, scimSettings };
}
