import { EntraSyncError } from "../errors.js";
import type { SecretFactsStore } from "../state/secret-facts.js";
import type { Logger } from "../log.js";
import type { SecretInfo, SecretStore } from "../secrets/store.js";
import { parseGuid, type Tenant } from "./model.js";
import type { TenantRegistry } from "./registry.js";
import type { PlatformDirectory } from "../directory/directory.js";
import { readPlatformUsersFile } from "../directory/import-file.js";

/** The adapters onboarding needs; the App satisfies it. */
export interface OnboardingDeps {
  log: Logger;
  clock: () => Date;
  tenants: TenantRegistry;
  secrets: SecretStore;
  secretFacts: SecretFactsStore;
}

/** Registers a tenant (CLI `tenant add`, `npm start`). */
export async function addTenant(app: OnboardingDeps, input: Record<string, unknown>): Promise<Tenant> {
  const t = await app.tenants.add(input);
  app.log.info("tenant registered", { tenantId: t.tenantId, clientId: t.clientId, displayName: t.displayName });
  return t;
}

/** Parses an expiry date given as YYYY-MM-DD (end of that day, UTC) or a full ISO time. */
export function parseExpiry(value: string, now: Date): Date {
  const v = value.trim();
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T23:59:59Z`) : new Date(v);
  if (Number.isNaN(d.getTime())) throw new EntraSyncError("INPUT_INVALID", `--expires must be a date like 2027-06-30, got ${JSON.stringify(value)}.`, { field: "expires" });
  if (d.getTime() < now.getTime() - 86_400_000) throw new EntraSyncError("INPUT_INVALID", `--expires ${v} is in the past: give the date shown for the new secret in the Entra admin center.`, { field: "expires" });
  if (d.getTime() > now.getTime() + 3 * 366 * 86_400_000) throw new EntraSyncError("INPUT_INVALID", `--expires ${v} is more than 3 years ahead: Entra allows at most 2 years for new client secrets; check the date.`, { field: "expires" });
  return d;
}

/** Stores a tenant's client secret in Key Vault with its expiry (CLI `secret set`). The tenant must be registered. */
export async function setTenantSecret(app: OnboardingDeps, tenantId: string, value: string, expiresOn: Date): Promise<SecretInfo> {
  const tenant = await app.tenants.require(parseGuid(tenantId, "tenant"));
  if (tenant.auth === "federated")
    throw new EntraSyncError("INPUT_INVALID", `Tenant ${tenant.tenantId} is federated: it signs in with the platform's app and has no secret. To use the customer's own app instead: entra-sync tenant update ${tenant.tenantId} --auth secret --client-id <id>, then secret set.`, { field: "tenant" });
  const info = await app.secrets.set(tenant.tenantId, value, expiresOn, tenant.clientId);
  // Status and GET /api/tenants show the date from now on, not only after the next daily check.
  await app.secretFacts.recordStored(info, app.clock());
  app.log.info("client secret stored", { tenantId: tenant.tenantId, version: info.version, expiresOn: info.expiresOn?.toISOString() });
  return info;
}

/**
 * Seeds the platform directory of a registered tenant from a .csv or .json file (CLI `users import`): the file is
 * validated whole before anything is written.
 */
export async function importPlatformUsers(app: Pick<OnboardingDeps, "tenants"> & { directory: Pick<PlatformDirectory, "importUsers"> }, tenantId: string, file: string): Promise<{ tenant: Tenant; imported: number; created: number; replaced: number }> {
  const tenant = await app.tenants.require(parseGuid(tenantId, "tenant"));
  const users = await readPlatformUsersFile(file, tenant.tenantId);
  const r = await app.directory.importUsers(tenant.tenantId, users);
  return { tenant, imported: users.length, created: r.created, replaced: r.replaced };
}
