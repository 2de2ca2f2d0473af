/** Every Table Storage table and Storage queue entra-sync uses. Infra creates exactly these; the app creates them locally. */
export const TABLES = {
  /** Tenant registrations (PartitionKey "tenant", RowKey tenant id). */
  tenants: "tenants",
  /** Run reports (PartitionKey tenant id, RowKey inverted timestamp + run id: newest first). */
  runs: "runs",
  /** Per-tenant operational state: checkpoint, lease, health (PartitionKey tenant id). */
  tenantState: "tenantstate",
  /** The connector space: last-seen Entra users per tenant. */
  connectorSpace: "connectorspace",
  /** The platform directory (default adapter): users and their lookup index entries, one partition per tenant. */
  platformUsers: "platformusers",
  /** Alert intents and sends (exactly-once mail). */
  alerts: "alerts",
  /** Immutable ID sync plans (PartitionKey tenant id + run id, RowKey position in the plan). */
  runPlans: "runplans",
  /** SCIM Secret Tokens, as hashes only (PartitionKey "token", RowKey token id). */
  scimTokens: "scimtokens",
  /** Every SCIM write, for operators (PartitionKey tenant id, RowKey inverted timestamp: newest first). */
  scimAudit: "scimaudit",
  /** SCIM groups and their members (PartitionKey tenant id). */
  scimGroups: "scimgroups",
  /** Each tenant's SCIM settings: custom extension attributes, the delete mode (PartitionKey "tenant", RowKey tenant id). */
  scimSettings: "scimsettings",
} as const;

export const QUEUES = {
  /** One message per tenant job (first invocation or continuation of a run). */
  syncJobs: "sync-jobs",
  /** Where the Functions host moves a job after maxDequeueCount failures. */
  syncJobsPoison: "sync-jobs-poison",
} as const;

export type TableName = (typeof TABLES)[keyof typeof TABLES];
