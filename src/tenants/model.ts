import { z } from "zod";
import { CLOUD_NAMES, type CloudName } from "../config/clouds.js";
import { EntraSyncError } from "../errors.js";
import { DEFAULT_MAPPING, mappingSchema, type MappingConfig } from "../mapping/mapping.js";
import { DEFAULT_SCHOOL_YEAR, schoolYearSchema, type SchoolYearConfig } from "./school-year.js";
import { DEFAULT_GUARD, guardSchema, type GuardConfig } from "./guard-settings.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Normalises a tenant or client id, or throws INPUT_INVALID naming the field. */
export function parseGuid(value: unknown, field: string): string {
  if (typeof value !== "string" || !GUID.test(value.trim()))
    throw new EntraSyncError("INPUT_INVALID", `${field} must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47, got ${JSON.stringify(value)}.`, { field, retryable: false });
  return value.trim().toLowerCase();
}

/** How a platform user with no externalId yet may be linked to an Entra user. */
export interface LinkingConfig {
  entra: "userPrincipalName" | "mail";
  platform: "userName" | "email";
}

/** Immutable ID sync settings of a tenant. */
export interface ImmutableIdConfig {
  mode: "off" | "preview" | "on";
  /** Platform attribute the value is taken from. */
  source: "id" | "externalId" | "userName" | "email" | "eppn" | "idpIdentifier";
  encoding: "raw" | "base64" | "guid";
  /** At most this many writes per run … */
  maxWritesPerRun: number;
  /** … and at most this share (percent) of the tenant's users per run. */
  maxPercentPerRun: number;
  federatedDomains: "skip" | "switchUpn";
}

export const DEFAULT_IMMUTABLE_ID: ImmutableIdConfig = {
  mode: "preview",
  source: "id",
  encoding: "base64",
  maxWritesPerRun: 500,
  maxPercentPerRun: 10,
  federatedDomains: "skip",
};

/**
 * How a tenant signs in: `secret`, the customer's own app registration and its client secret in Key Vault;
 * `federated`, admin consent to the platform's multi-tenant app, with no secret (see src/secrets/federated.ts).
 */
export type TenantAuth = "secret" | "federated";

/** A customer's Entra tenant as registered here. */
export interface Tenant {
  tenantId: string;
  clientId: string;
  /** Absent on registrations made before federated tenants existed: `secret`. */
  auth?: TenantAuth;
  displayName: string;
  cloud: CloudName;
  enabled: boolean;
  mapping: MappingConfig;
  linking: LinkingConfig | null;
  adminEmails: string[];
  locale: "en" | "sv";
  immutableId: ImmutableIdConfig;
  /** Minutes between scheduled runs. */
  syncIntervalMinutes: number;
  /** Attributes whose values the audit log masks for this tenant, beside AUDIT_SENSITIVE_ATTRIBUTES. */
  sensitiveAttributes?: string[] | undefined;
  /**
   * Set when a change needs every user mapped again (the mapping changed): the next run that updates reads in full,
   * and clears it once its round is complete.
   */
  fullResync?: { reason: "mappingChanged"; requestedAt: string } | undefined;
  /** Pause windows (no writes); absent in registrations made before it existed: no pause. */
  schoolYear?: SchoolYearConfig | undefined;
  /** The mass-change guard of update sync; absent in registrations made before it existed: DEFAULT_GUARD. */
  guard?: GuardConfig | undefined;
  createdAt: string;
  updatedAt: string;
}

export const linkingSchema = z
  .object({ entra: z.enum(["userPrincipalName", "mail"]), platform: z.enum(["userName", "email"]) })
  .strict();

export const immutableIdSchema = z
  .object({
    mode: z.enum(["off", "preview", "on"]),
    source: z.enum(["id", "externalId", "userName", "email", "eppn", "idpIdentifier"]),
    encoding: z.enum(["raw", "base64", "guid"]),
    maxWritesPerRun: z.number().int().min(0).max(1_000_000),
    maxPercentPerRun: z.number().min(0).max(100),
    federatedDomains: z.enum(["skip", "switchUpn"]),
  })
  .strict();

export const tenantInputSchema = z
  .object({
    tenantId: z.string(),
    clientId: z.string(),
    auth: z.enum(["secret", "federated"]).default("secret"),
    displayName: z.string().trim().min(1, "displayName must not be empty").max(200),
    cloud: z.enum(CLOUD_NAMES as [CloudName, ...CloudName[]]).default("global"),
    enabled: z.boolean().default(true),
    mapping: mappingSchema.default(DEFAULT_MAPPING),
    linking: linkingSchema.nullable().default(null),
    adminEmails: z.array(z.string().email("adminEmails must hold e-mail addresses")).default([]),
    locale: z.enum(["en", "sv"]).default("en"),
    immutableId: immutableIdSchema.default(DEFAULT_IMMUTABLE_ID),
    syncIntervalMinutes: z.number().int().min(1).max(7 * 24 * 60).default(5),
    schoolYear: schoolYearSchema.default(DEFAULT_SCHOOL_YEAR),
    guard: guardSchema.default(DEFAULT_GUARD),
    sensitiveAttributes: z.array(z.string().regex(/^[A-Za-z][\w.:-]{0,199}$/, "sensitiveAttributes must name attributes (letters, digits, . : _ -), e.g. ssn")).max(100).optional(),
    fullResync: z.object({ reason: z.literal("mappingChanged"), requestedAt: z.string() }).strict().optional(),
  })
  .strict();

export type TenantInput = z.input<typeof tenantInputSchema>;

/** Validates a registration; throws INPUT_INVALID naming the first bad field and what is allowed. */
export function validateTenant(input: unknown, now: Date, existing?: Tenant): Tenant {
  const base = mergeNested(existing ? { ...stripTimes(existing), ...(input as object) } : input, existing);
  const r = tenantInputSchema.safeParse(base);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join(".") || "tenant";
    throw new EntraSyncError("INPUT_INVALID", `${field}: ${issue.message}`, { field, retryable: false });
  }
  const v = r.data;
  const mapping = v.mapping as MappingConfig;
  // A mapping that gives other values needs every user mapped again: the next run reads in full by itself.
  const fullResync = existing && !sameMapping(existing.mapping, mapping) ? { reason: "mappingChanged" as const, requestedAt: now.toISOString() } : v.fullResync;
  return {
    ...v,
    ...(fullResync ? { fullResync } : {}),
    mapping,
    tenantId: parseGuid(v.tenantId, "tenantId"),
    clientId: parseGuid(v.clientId, "clientId"),
    adminEmails: v.adminEmails.map((e) => e.toLowerCase()),
    createdAt: existing?.createdAt ?? now.toISOString(),
    updatedAt: now.toISOString(),
  };
}

/** The nested settings a patch may name in part (`{ removals: 200 }` keeps the rest), with their defaults. */
const NESTED = { immutableId: DEFAULT_IMMUTABLE_ID, mapping: DEFAULT_MAPPING, schoolYear: DEFAULT_SCHOOL_YEAR, guard: DEFAULT_GUARD } as const;

/** Each nested setting a patch names (an object) is merged as defaults ← existing ← patch; anything else is left to validation. */
function mergeNested(base: unknown, existing?: Tenant): unknown {
  if (!base || typeof base !== "object") return base;
  const out: Record<string, unknown> = { ...base };
  for (const [key, defaults] of Object.entries(NESTED)) {
    const patch = out[key];
    if (patch === undefined || patch === null || typeof patch !== "object" || Array.isArray(patch)) continue;
    out[key] = { ...defaults, ...((existing?.[key as keyof typeof NESTED] as object | undefined) ?? {}), ...patch };
  }
  return out;
}

/** Whether two mappings give the same values (the order of sources matters: the first non-empty one wins). */
export function sameMapping(a: MappingConfig, b: MappingConfig): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof MappingConfig>;
  return [...keys].every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

function stripTimes(t: Tenant): Omit<Tenant, "createdAt" | "updatedAt"> {
  const { createdAt: _c, updatedAt: _u, ...rest } = t;
  return rest;
}

/** Key Vault secret name of a tenant's client secret. */
export const secretNameFor = (tenantId: string): string => `tenant-${tenantId}`;
