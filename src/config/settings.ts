import { z } from "zod";
import { EntraSyncError } from "../errors.js";
import { CLOUD_NAMES, type CloudName } from "./clouds.js";

/**
 * Every app setting entra-sync reads, with what it means. This list is the one source of truth: the settings
 * parser, `local.settings.example.json`, the README table and the Bicep template's app settings are all checked
 * against it by tests.
 */
export const APP_SETTINGS = {
  AzureWebJobsStorage: "Storage connection string (local: Azurite). In Azure use the identity-based form below instead.",
  AzureWebJobsStorage__accountName: "Storage account name; the app reaches its tables and queues with its managed identity.",
  AzureWebJobsStorage__tableServiceUri: "Table endpoint for identity-based storage (optional; derived from accountName).",
  AzureWebJobsStorage__queueServiceUri: "Queue endpoint for identity-based storage (optional; derived from accountName).",
  AzureWebJobsStorage__blobServiceUri: "Blob endpoint for the Functions host (identity-based; not read by the app code).",
  AzureWebJobsStorage__credential: "`managedidentity` for identity-based host storage (read by the Functions host).",
  APP_STORAGE: "Connection string of the storage account that holds the app's data, its tables and queues (local: Azurite). Unset: AzureWebJobsStorage's account.",
  APP_STORAGE__accountName: "Name of the app's data storage account, apart from the Functions host's; reached with the managed identity. Unset: AzureWebJobsStorage's account.",
  APP_STORAGE__tableServiceUri: "Table endpoint of the app's data account (optional; derived from its accountName).",
  APP_STORAGE__queueServiceUri: "Queue endpoint of the app's data account (the sync-jobs queue triggers read it; optional for the app code).",
  APP_STORAGE__credential: "`managedidentity`: the Functions host reaches the data account's queues with the app's identity (read by the host).",
  KEY_VAULT_URL: "The Key Vault holding customers' client secrets, e.g. https://myvault.vault.azure.net/.",
  KEY_VAULT_LOCAL_STACK:
    "`true` only for the local stack's simulated vault on 127.0.0.1/localhost: skips the check that the vault's authentication challenge names the vault's own domain (local stack only).",
  PLATFORM_CREDENTIAL:
    "How the app itself authenticates to Key Vault, storage and ACS: `managed-identity` (Azure), `azure-cli` (an operator's `az login`), `client-secret` (the local stack).",
  PLATFORM_TENANT_ID: "With PLATFORM_CREDENTIAL=client-secret: the platform's own tenant (local stack only).",
  PLATFORM_CLIENT_ID: "With PLATFORM_CREDENTIAL=client-secret: the platform's own app (local stack only).",
  PLATFORM_CLIENT_SECRET: "With PLATFORM_CREDENTIAL=client-secret: its secret (local stack only; never set in Azure).",
  FEDERATED_APP_CLIENT_ID:
    "App (client) id of the platform's own multi-tenant app that customers grant admin consent to (`tenant add --auth federated`); its federated identity credential trusts the managed identity of MANAGED_IDENTITY_CLIENT_ID. Unset: every tenant uses its own client secret.",
  MANAGED_IDENTITY_CLIENT_ID:
    "Client id of the user-assigned managed identity whose token (audience api://AzureADTokenExchange, or the cloud's own) is the federated app's client assertion. Required with FEDERATED_APP_CLIENT_ID.",
  ENTRA_AUTHORITY_HOST: "Overrides the Entra token host of every tenant's cloud (local stack: the simulator).",
  GRAPH_BASE_URL: "Overrides the Microsoft Graph host of every tenant's cloud (local stack: the simulator).",
  SYNC_SCHEDULE: "NCRONTAB of the scheduler timer.",
  SECRET_CHECK_SCHEDULE: "NCRONTAB of the daily secret expiry check.",
  ALERT_THRESHOLDS_DAYS: "Days before a client secret expires at which its tenant's admins are mailed.",
  RUN_TIME_BUDGET_SECONDS: "How long one worker invocation works before it checkpoints and re-enqueues (keep below the host's functionTimeout).",
  MAIL_TRANSPORT: "`acs` (Azure Communication Services Email), `smtp` or `outbox` (.eml files in MAIL_OUTBOX_DIR).",
  MAIL_FROM: "Sender address of alert e-mails.",
  OPERATOR_EMAIL: "The platform operators' address, copied on every alert (comma-separated for several).",
  ACS_EMAIL_ENDPOINT: "With MAIL_TRANSPORT=acs: the Communication Services endpoint, e.g. https://x.communication.azure.com.",
  SMTP_URL: "With MAIL_TRANSPORT=smtp: smtp(s)://user:password@host:port of the relay.",
  MAIL_OUTBOX_DIR: "With MAIL_TRANSPORT=outbox: the folder that receives .eml files.",
  PLAN_RETENTION_DAYS: "Days an Immutable ID plan (UPNs and ImmutableIds) is kept at most; plans also go with their runs.",
  HOLD_EXPIRY_HOURS: "Hours a run held by the mass-change guard waits for approval before it expires (1 to 144, below Graph's 7-day delta-token life).",
  MAX_CONCURRENT_FULL_READS: "Runs that may read a tenant in full (an initial delta round) at once per storage account; others wait in line, first queued first served.",
  GRAPH_WRITE_LIMIT: "Writes Graph allows one app in one tenant per write window (Graph: 3,000); Immutable ID sync paces to it. Change only to match a test stack.",
  GRAPH_WRITE_WINDOW_SECONDS: "Length of Graph's write window in seconds (Graph: 150). A test stack scales it with its simulator's throttle model.",
  AUDIT_RETENTION_DAYS: "Days the audit log (every attribute change and Entra write) is kept; older entries are pruned with the run history.",
  AUDIT_SENSITIVE_ATTRIBUTES: "Platform attributes whose values the audit log masks for every tenant (comma-separated; SCIM extension attributes by name).",
  OPERATOR_ALERT_FAILURES: "Runs of a tenant in a row that fail for a cause other than auth before the operators are mailed.",
  STATUS_PAGE_AUTH: "How operators sign in to the status page: `appservice` (App Service Authentication with Entra ID in front of the app) or `local` (a sign-in form taking STATUS_PAGE_KEY; local stack only).",
  STATUS_PAGE_OPERATORS_GROUP: "With STATUS_PAGE_AUTH=appservice: object id of the Entra group whose members may use the status page (checked on the signed-in user's groups claim).",
  STATUS_PAGE_KEY: "At least 32 random characters: the status page signs its session and confirmation tokens with a key derived from it (in Azure a Key Vault reference; with STATUS_PAGE_AUTH=local also the sign-in key).",
  NOTIFICATION_URL:
    "Public https:// base URL of this function app (e.g. https://my-app.azurewebsites.net) to which Microsoft Graph sends change notifications; unset: no subscriptions, the scheduler alone (http:// only for 127.0.0.1/localhost).",
  NOTIFY_COALESCE_SECONDS: "How long a run started by a change notification waits in the queue, so that a burst of changes gives one run (0–60).",
  NOTIFIED_SYNC_INTERVAL_MINUTES: "While a tenant's change notification subscription is healthy, its scheduled runs come at most this often (minutes, 0: the tenant's own interval).",
} as const;

export type AppSettingName = keyof typeof APP_SETTINGS;

export type PlatformCredentialKind = "managed-identity" | "azure-cli" | "client-secret";
export type MailTransportKind = "acs" | "smtp" | "outbox";

/** The validated, frozen settings of one process. */
export interface Settings {
  readonly storage:
    | { readonly kind: "connectionString"; readonly connectionString: string }
    | { readonly kind: "identity"; readonly tableUrl: string; readonly queueUrl: string };
  readonly keyVaultUrl: string;
  /**
   * The platform's multi-tenant app and the user-assigned managed identity its federated identity credential trusts
   * (FEDERATED_APP_CLIENT_ID, MANAGED_IDENTITY_CLIENT_ID); undefined when tenants can only use client secrets.
   */
  readonly federation: { readonly appClientId: string; readonly managedIdentityClientId: string } | undefined;
  /** KEY_VAULT_LOCAL_STACK=true: the vault is the local simulator (loopback only), whose challenge cannot name its host. */
  readonly keyVaultLocalStack: boolean;
  readonly platformCredential:
    | { readonly kind: "managed-identity" }
    | { readonly kind: "azure-cli" }
    | { readonly kind: "client-secret"; readonly tenantId: string; readonly clientId: string; readonly clientSecret: string };
  /** Host overrides that apply to every tenant whatever its cloud (local stack). */
  readonly entraAuthorityHost: string | undefined;
  readonly graphBaseUrl: string | undefined;
  readonly syncSchedule: string;
  readonly secretCheckSchedule: string;
  readonly alertThresholdsDays: readonly number[];
  readonly runTimeBudgetSeconds: number;
  /** Days an Immutable ID plan is kept at most (PLAN_RETENTION_DAYS). */
  readonly planRetentionDays: number;
  /** Hours a held run waits for approval (HOLD_EXPIRY_HOURS). */
  readonly holdExpiryHours: number;
  /** Full reads (initial delta rounds) at once per storage account (MAX_CONCURRENT_FULL_READS). */
  readonly maxConcurrentFullReads: number;
  /** Graph's write limit per app per tenant: `writes` per `windowSeconds` (Immutable ID sync paces to it). */
  readonly graphWriteLimit: { readonly writes: number; readonly windowSeconds: number };
  /** The audit log: days kept (AUDIT_RETENTION_DAYS), attributes masked for every tenant (AUDIT_SENSITIVE_ATTRIBUTES). */
  readonly audit: { readonly retentionDays: number; readonly sensitive: readonly string[] };
  /** Operators are mailed after this many non-auth failures in a row (OPERATOR_ALERT_FAILURES). */
  readonly operatorAlertFailures: number;
  /** The status page's sign-in (STATUS_PAGE_*); `key` undefined: the page refuses to serve, saying what to set. */
  readonly statusPage: { readonly auth: "appservice" | "local"; readonly operatorsGroup: string | undefined; readonly key: string | undefined };
  /** Graph change notifications (NOTIFICATION_URL etc.); `baseUrl` undefined: no subscriptions. */
  readonly notifications: { readonly baseUrl: string | undefined; readonly coalesceSeconds: number; readonly notifiedIntervalMinutes: number };
  readonly mail: {
    readonly transport: MailTransportKind;
    readonly from: string;
    readonly operatorEmails: readonly string[];
    readonly acsEndpoint: string | undefined;
    readonly smtpUrl: string | undefined;
    readonly outboxDir: string;
  };
}

/** host.json's functionTimeout in seconds (a test keeps the two in step). */
export const FUNCTION_TIMEOUT_SECONDS = 1800;
/** The largest RUN_TIME_BUDGET_SECONDS: five minutes below the function timeout, for the last page and the checkpoint. */
export const MAX_RUN_TIME_BUDGET_SECONDS = FUNCTION_TIMEOUT_SECONDS - 300;

export const DEFAULTS = {
  SYNC_SCHEDULE: "0 */5 * * * *",
  SECRET_CHECK_SCHEDULE: "0 0 6 * * *",
  ALERT_THRESHOLDS_DAYS: "60,30,14,7,3,1,0",
  RUN_TIME_BUDGET_SECONDS: "480",
  MAIL_TRANSPORT: "outbox",
  MAIL_OUTBOX_DIR: ".local/outbox",
  MAIL_FROM: "entra-sync@localhost",
  PLATFORM_CREDENTIAL: "managed-identity",
  PLAN_RETENTION_DAYS: "30",
  HOLD_EXPIRY_HOURS: "72",
  MAX_CONCURRENT_FULL_READS: "8",
  GRAPH_WRITE_LIMIT: "3000",
  GRAPH_WRITE_WINDOW_SECONDS: "150",
  AUDIT_RETENTION_DAYS: "180",
  AUDIT_SENSITIVE_ATTRIBUTES: "ssn,birthDate",
  OPERATOR_ALERT_FAILURES: "3",
  NOTIFY_COALESCE_SECONDS: "5",
  NOTIFIED_SYNC_INTERVAL_MINUTES: "60",
} as const;

const httpsUrl = z
  .string()
  .url()
  .refine((v) => v.startsWith("https://"), "must be an https:// URL");
const email = z.string().email();
const ncrontab = z
  .string()
  .refine((v) => v.trim().split(/\s+/).length === 6, "must be an NCRONTAB expression with six fields (second minute hour day month weekday)");

function fail(name: string, problem: string): never {
  throw new EntraSyncError("CONFIG_INVALID", `Setting ${name} ${problem}.`, { retryable: false });
}

function check<T>(name: string, schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) fail(name, `is invalid (${r.error.issues.map((i) => i.message).join("; ")})`);
  return r.data;
}

function pick(env: Record<string, string | undefined>, name: AppSettingName): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

/**
 * Reads the settings from an environment map once, validating each value. A bad value throws `CONFIG_INVALID`
 * naming the variable and what is allowed; nothing is defaulted silently in Azure where a value is required.
 */
/**
 * The storage account of the app's data (tables, queues): APP_STORAGE when set (its own account, apart from the
 * Functions host's), else AzureWebJobsStorage's (one account for both, as on the local stack).
 */
function storageOf(env: Record<string, string | undefined>): Settings["storage"] {
  const own = pick(env, "APP_STORAGE") ?? pick(env, "APP_STORAGE__accountName") ?? pick(env, "APP_STORAGE__tableServiceUri");
  const name = own ? "APP_STORAGE" : "AzureWebJobsStorage";
  const conn = pick(env, name);
  const account = pick(env, `${name}__accountName`);
  if (conn) {
    if (!/AccountName=|UseDevelopmentStorage=true/i.test(conn)) fail(name, "is not a storage connection string (expected AccountName=…;AccountKey=…;TableEndpoint=… or UseDevelopmentStorage=true)");
    return { kind: "connectionString", connectionString: conn };
  }
  if (account || pick(env, `${name}__tableServiceUri`)) {
    if (account && !/^[a-z0-9]{3,24}$/.test(account)) fail(`${name}__accountName`, `is "${account}" but must be 3-24 lower-case letters and digits`);
    const tableUrl = pick(env, `${name}__tableServiceUri`) ?? `https://${account}.table.core.windows.net`;
    const queueUrl = pick(env, `${name}__queueServiceUri`) ?? `https://${account}.queue.core.windows.net`;
    check(`${name}__tableServiceUri`, httpsUrl, tableUrl);
    check(`${name}__queueServiceUri`, httpsUrl, queueUrl);
    return { kind: "identity", tableUrl, queueUrl };
  }
  fail("AzureWebJobsStorage", "is missing: set a connection string (local) or APP_STORAGE__accountName / AzureWebJobsStorage__accountName (Azure, managed identity)");
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** FEDERATED_APP_CLIENT_ID and MANAGED_IDENTITY_CLIENT_ID: both or neither, each a GUID. */
function federationOf(env: Record<string, string | undefined>): Settings["federation"] {
  const appClientId = pick(env, "FEDERATED_APP_CLIENT_ID");
  const managedIdentityClientId = pick(env, "MANAGED_IDENTITY_CLIENT_ID");
  if (!appClientId && !managedIdentityClientId) return undefined;
  if (!appClientId) fail("FEDERATED_APP_CLIENT_ID", "is missing while MANAGED_IDENTITY_CLIENT_ID is set: set the client id of the platform's multi-tenant app, or unset both");
  if (!managedIdentityClientId) fail("MANAGED_IDENTITY_CLIENT_ID", "is missing while FEDERATED_APP_CLIENT_ID is set: set the client id of the user-assigned managed identity the app's federated credential trusts");
  if (!GUID.test(appClientId)) fail("FEDERATED_APP_CLIENT_ID", `is "${appClientId}" but must be a GUID (the app's Application (client) ID)`);
  if (!GUID.test(managedIdentityClientId)) fail("MANAGED_IDENTITY_CLIENT_ID", `is "${managedIdentityClientId}" but must be a GUID (the managed identity's Client ID, not its Object (principal) ID or resource id)`);
  return { appClientId: appClientId.toLowerCase(), managedIdentityClientId: managedIdentityClientId.toLowerCase() };
}

export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const storage = storageOf(env);

  const keyVaultUrl = pick(env, "KEY_VAULT_URL");
  if (!keyVaultUrl) fail("KEY_VAULT_URL", "is missing: set the URL of the vault that holds customer client secrets");
  check("KEY_VAULT_URL", httpsUrl, keyVaultUrl);
  const localVault = pick(env, "KEY_VAULT_LOCAL_STACK") ?? "false";
  if (localVault !== "true" && localVault !== "false") fail("KEY_VAULT_LOCAL_STACK", `is "${localVault}" but must be true or false`);
  const keyVaultLocalStack = localVault === "true";
  if (keyVaultLocalStack && !["127.0.0.1", "localhost", "[::1]"].includes(new URL(keyVaultUrl).hostname))
    fail("KEY_VAULT_LOCAL_STACK", `is true but KEY_VAULT_URL's host is ${new URL(keyVaultUrl).hostname}: it may be true only for the local stack's vault on 127.0.0.1 or localhost; remove it for a real vault`);

  const credKind = pick(env, "PLATFORM_CREDENTIAL") ?? DEFAULTS.PLATFORM_CREDENTIAL;
  let platformCredential: Settings["platformCredential"];
  if (credKind === "managed-identity" || credKind === "azure-cli") platformCredential = { kind: credKind };
  else if (credKind === "client-secret") {
    const tenantId = pick(env, "PLATFORM_TENANT_ID");
    const clientId = pick(env, "PLATFORM_CLIENT_ID");
    const clientSecret = pick(env, "PLATFORM_CLIENT_SECRET");
    if (!tenantId) fail("PLATFORM_TENANT_ID", "is missing (required with PLATFORM_CREDENTIAL=client-secret)");
    if (!clientId) fail("PLATFORM_CLIENT_ID", "is missing (required with PLATFORM_CREDENTIAL=client-secret)");
    if (!clientSecret) fail("PLATFORM_CLIENT_SECRET", "is missing (required with PLATFORM_CREDENTIAL=client-secret)");
    platformCredential = { kind: "client-secret", tenantId, clientId, clientSecret };
  } else fail("PLATFORM_CREDENTIAL", `is "${credKind}" but must be one of managed-identity, azure-cli, client-secret`);

  const federation = federationOf(env);

  const entraAuthorityHost = pick(env, "ENTRA_AUTHORITY_HOST");
  if (entraAuthorityHost) check("ENTRA_AUTHORITY_HOST", httpsUrl, entraAuthorityHost);
  const graphBaseUrl = pick(env, "GRAPH_BASE_URL");
  if (graphBaseUrl) check("GRAPH_BASE_URL", httpsUrl, graphBaseUrl);

  const syncSchedule = check("SYNC_SCHEDULE", ncrontab, pick(env, "SYNC_SCHEDULE") ?? DEFAULTS.SYNC_SCHEDULE);
  const secretCheckSchedule = check("SECRET_CHECK_SCHEDULE", ncrontab, pick(env, "SECRET_CHECK_SCHEDULE") ?? DEFAULTS.SECRET_CHECK_SCHEDULE);

  const thresholdsRaw = pick(env, "ALERT_THRESHOLDS_DAYS") ?? DEFAULTS.ALERT_THRESHOLDS_DAYS;
  const alertThresholdsDays = thresholdsRaw.split(",").map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0 || n > 365) fail("ALERT_THRESHOLDS_DAYS", `holds "${s.trim()}" but must be a comma-separated list of whole days between 0 and 365`);
    return n;
  });
  const uniqueThresholds = [...new Set(alertThresholdsDays)].sort((a, b) => b - a);

  const budgetRaw = pick(env, "RUN_TIME_BUDGET_SECONDS") ?? DEFAULTS.RUN_TIME_BUDGET_SECONDS;
  const runTimeBudgetSeconds = Number(budgetRaw);
  if (!Number.isInteger(runTimeBudgetSeconds) || runTimeBudgetSeconds < 10 || runTimeBudgetSeconds > MAX_RUN_TIME_BUDGET_SECONDS)
    fail(
      "RUN_TIME_BUDGET_SECONDS",
      `is "${budgetRaw}" but must be a whole number of seconds between 10 and ${MAX_RUN_TIME_BUDGET_SECONDS}: a worker invocation checkpoints after it and must have done so before host.json's functionTimeout (${FUNCTION_TIMEOUT_SECONDS} s) ends it`,
    );

  const retentionRaw = pick(env, "PLAN_RETENTION_DAYS") ?? DEFAULTS.PLAN_RETENTION_DAYS;
  const planRetentionDays = Number(retentionRaw);
  if (!/^\d+$/.test(retentionRaw) || planRetentionDays < 1 || planRetentionDays > 365) fail("PLAN_RETENTION_DAYS", `is "${retentionRaw}" but must be a whole number of days between 1 and 365`);
  const holdRaw = pick(env, "HOLD_EXPIRY_HOURS") ?? DEFAULTS.HOLD_EXPIRY_HOURS;
  const holdExpiryHours = Number(holdRaw);
  if (!/^\d+$/.test(holdRaw) || holdExpiryHours < 1 || holdExpiryHours > 144)
    fail("HOLD_EXPIRY_HOURS", `is "${holdRaw}" but must be a whole number of hours between 1 and 144: a held run is approved from its delta checkpoint, and Graph keeps delta tokens only 7 days`);
  const fullReadsRaw = pick(env, "MAX_CONCURRENT_FULL_READS") ?? DEFAULTS.MAX_CONCURRENT_FULL_READS;
  const maxConcurrentFullReads = Number(fullReadsRaw);
  if (!/^\d+$/.test(fullReadsRaw) || maxConcurrentFullReads < 1 || maxConcurrentFullReads > 1000)
    fail("MAX_CONCURRENT_FULL_READS", `is "${fullReadsRaw}" but must be a whole number of runs between 1 and 1000`);
  const writesRaw = pick(env, "GRAPH_WRITE_LIMIT") ?? DEFAULTS.GRAPH_WRITE_LIMIT;
  const writes = Number(writesRaw);
  if (!Number.isFinite(writes) || writes < 1 || writes > 1_000_000) fail("GRAPH_WRITE_LIMIT", `is "${writesRaw}" but must be a number of writes between 1 and 1000000`);
  const windowRaw = pick(env, "GRAPH_WRITE_WINDOW_SECONDS") ?? DEFAULTS.GRAPH_WRITE_WINDOW_SECONDS;
  const windowSeconds = Number(windowRaw);
  if (!Number.isFinite(windowSeconds) || windowSeconds <= 0 || windowSeconds > 86_400)
    fail("GRAPH_WRITE_WINDOW_SECONDS", `is "${windowRaw}" but must be a number of seconds above 0 and at most 86400`);

  const auditDaysRaw = pick(env, "AUDIT_RETENTION_DAYS") ?? DEFAULTS.AUDIT_RETENTION_DAYS;
  const auditRetentionDays = Number(auditDaysRaw);
  if (!/^\d+$/.test(auditDaysRaw) || auditRetentionDays < 1 || auditRetentionDays > 3650) fail("AUDIT_RETENTION_DAYS", `is "${auditDaysRaw}" but must be a whole number of days between 1 and 3650`);
  const sensitiveRaw = pick(env, "AUDIT_SENSITIVE_ATTRIBUTES") ?? DEFAULTS.AUDIT_SENSITIVE_ATTRIBUTES;
  const auditSensitive = sensitiveRaw.split(",").map((x) => x.trim()).filter(Boolean);
  for (const a of auditSensitive) if (!/^[A-Za-z][\w.:-]{0,199}$/.test(a)) fail("AUDIT_SENSITIVE_ATTRIBUTES", `holds "${a.slice(0, 60)}" but must list attribute names (letters, digits, . : _ -), comma-separated, e.g. ssn,birthDate`);
  const failuresRaw = pick(env, "OPERATOR_ALERT_FAILURES") ?? DEFAULTS.OPERATOR_ALERT_FAILURES;
  const operatorAlertFailures = Number(failuresRaw);
  if (!/^\d+$/.test(failuresRaw) || operatorAlertFailures < 1 || operatorAlertFailures > 100) fail("OPERATOR_ALERT_FAILURES", `is "${failuresRaw}" but must be a whole number of runs between 1 and 100`);
  const notifications = notificationSettings(env);

  const transport = pick(env, "MAIL_TRANSPORT") ?? DEFAULTS.MAIL_TRANSPORT;
  if (transport !== "acs" && transport !== "smtp" && transport !== "outbox")
    fail("MAIL_TRANSPORT", `is "${transport}" but must be one of acs, smtp, outbox`);
  const from = check("MAIL_FROM", email.or(z.string().regex(/^[^@\s]+@localhost$/)), pick(env, "MAIL_FROM") ?? DEFAULTS.MAIL_FROM);
  const operatorEmails = (pick(env, "OPERATOR_EMAIL") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((e) => check("OPERATOR_EMAIL", email, e));
  const acsEndpoint = pick(env, "ACS_EMAIL_ENDPOINT");
  if (transport === "acs") {
    if (!acsEndpoint) fail("ACS_EMAIL_ENDPOINT", "is missing (required with MAIL_TRANSPORT=acs)");
    check("ACS_EMAIL_ENDPOINT", httpsUrl, acsEndpoint);
  }
  const smtpUrl = pick(env, "SMTP_URL");
  if (transport === "smtp") {
    if (!smtpUrl) fail("SMTP_URL", "is missing (required with MAIL_TRANSPORT=smtp)");
    if (!/^smtps?:\/\//.test(smtpUrl)) fail("SMTP_URL", "must start with smtp:// or smtps://");
  }
  const outboxDir = pick(env, "MAIL_OUTBOX_DIR") ?? DEFAULTS.MAIL_OUTBOX_DIR;

  const statusAuth = pick(env, "STATUS_PAGE_AUTH") ?? "appservice";
  if (statusAuth !== "appservice" && statusAuth !== "local") fail("STATUS_PAGE_AUTH", `is "${statusAuth.slice(0, 40)}" but must be appservice or local`);
  const operatorsGroup = pick(env, "STATUS_PAGE_OPERATORS_GROUP");
  if (operatorsGroup !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(operatorsGroup))
    fail("STATUS_PAGE_OPERATORS_GROUP", "must be the object id (a GUID) of the operators' Entra group");
  // A Key Vault reference the platform could not resolve reaches the app as its own text: no key, then.
  const statusKeyRaw = pick(env, "STATUS_PAGE_KEY");
  const statusKey = statusKeyRaw?.startsWith("@Microsoft.KeyVault(") ? undefined : statusKeyRaw;
  // The value is never echoed: it is a key.
  if (statusKey !== undefined && statusKey.length < 32) fail("STATUS_PAGE_KEY", `is ${statusKey.length} characters long but must be at least 32 random characters`);

  return Object.freeze({
    storage: Object.freeze(storage),
    keyVaultUrl,
    keyVaultLocalStack,
    federation: federation && Object.freeze(federation),
    platformCredential: Object.freeze(platformCredential),
    entraAuthorityHost,
    graphBaseUrl,
    syncSchedule,
    secretCheckSchedule,
    alertThresholdsDays: Object.freeze(uniqueThresholds),
    runTimeBudgetSeconds,
    planRetentionDays,
    holdExpiryHours,
    maxConcurrentFullReads,
    graphWriteLimit: Object.freeze({ writes, windowSeconds }),
    audit: Object.freeze({ retentionDays: auditRetentionDays, sensitive: Object.freeze(auditSensitive) }),
    operatorAlertFailures,
    statusPage: Object.freeze({ auth: statusAuth, operatorsGroup: operatorsGroup?.toLowerCase(), key: statusKey }),
    notifications: Object.freeze(notifications),
    mail: Object.freeze({ transport, from, operatorEmails: Object.freeze(operatorEmails), acsEndpoint, smtpUrl, outboxDir }),
  });
}

function notificationSettings(env: Record<string, string | undefined>): Settings["notifications"] {
  const base = pick(env, "NOTIFICATION_URL");
  let baseUrl: string | undefined;
  if (base) {
    if (!URL.canParse(base)) fail("NOTIFICATION_URL", `is "${base}" but must be the app's public base URL, e.g. https://my-app.azurewebsites.net`);
    const u = new URL(base);
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
    // Graph delivers change notifications only to HTTPS endpoints; plain http is allowed for the local stack alone.
    if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) fail("NOTIFICATION_URL", `is "${base}" but must be an https:// URL (Graph sends notifications over HTTPS only; http:// only on 127.0.0.1/localhost)`);
    if (u.search || u.hash) fail("NOTIFICATION_URL", `is "${base}" but must have no query or fragment: the app adds its own routes`);
    baseUrl = `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
  }
  const coalesceRaw = pick(env, "NOTIFY_COALESCE_SECONDS") ?? DEFAULTS.NOTIFY_COALESCE_SECONDS;
  const coalesceSeconds = Number(coalesceRaw);
  if (!/^\d+$/.test(coalesceRaw) || coalesceSeconds > 60) fail("NOTIFY_COALESCE_SECONDS", `is "${coalesceRaw}" but must be a whole number of seconds from 0 to 60`);
  const intervalRaw = pick(env, "NOTIFIED_SYNC_INTERVAL_MINUTES") ?? DEFAULTS.NOTIFIED_SYNC_INTERVAL_MINUTES;
  const notifiedIntervalMinutes = Number(intervalRaw);
  if (!/^\d+$/.test(intervalRaw) || notifiedIntervalMinutes > 1440) fail("NOTIFIED_SYNC_INTERVAL_MINUTES", `is "${intervalRaw}" but must be a whole number of minutes from 0 to 1440`);
  return { baseUrl, coalesceSeconds, notifiedIntervalMinutes };
}

export { CLOUD_NAMES, type CloudName };
