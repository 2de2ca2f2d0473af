/**
 * The Microsoft Graph application permissions entra-sync asks a customer for, per capability, and how to grant them.
 * One place: the run errors, the alert mails and `tenant check` all say the same thing.
 */
import { CLOUDS, type CloudName } from "../config/clouds.js";
import type { Tenant } from "../tenants/model.js";

/** What a permission is needed for (the README's capabilities). */
export type Capability = "update sync" | "birthday" | "Immutable ID sync" | "secret expiry";

/** The application permissions entra-sync asks for (least privileged for its calls). */
export type Permission = "User.Read.All" | "User.ReadWrite.All" | "Domain.Read.All" | "Application.Read.All";

/** The permission Immutable ID sync needs to list the tenant's domains (`GET /domains`). */
export const DOMAIN_PERMISSION: Permission = "Domain.Read.All";

/**
 * The application permissions that include each one asked for: itself, then the higher privileged ones Microsoft's
 * Graph reference lists for the same calls. A token holding any of them is enough.
 */
export const GRANTED_BY: Record<Permission, readonly string[]> = {
  // GET /users/delta, GET /users/{id} (incl. $select=birthday)
  "User.Read.All": ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
  // PATCH /users/{id} (onPremisesImmutableId, userPrincipalName)
  "User.ReadWrite.All": ["User.ReadWrite.All", "Directory.ReadWrite.All"],
  // GET /domains
  "Domain.Read.All": ["Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"],
  // GET /applications(appId='…')
  "Application.Read.All": ["Application.Read.All", "Application.ReadWrite.All"],
};

/** One permission a tenant's enabled capabilities need. */
export interface PermissionNeed {
  permission: Permission;
  neededFor: Capability;
  /** Optional: without it the capability falls back (secret expiry uses the recorded date). */
  optional: boolean;
}

/**
 * The permissions a tenant's registration needs: update sync always; birthday when the mapping fetches it; Immutable
 * ID sync unless its mode is `off` (writing only in mode `on`); secret expiry's read of the app object is optional.
 */
export function permissionsFor(tenant: Pick<Tenant, "mapping" | "immutableId">): PermissionNeed[] {
  const needs: PermissionNeed[] = [{ permission: "User.Read.All", neededFor: "update sync", optional: false }];
  if (tenant.mapping.birthDate) needs.push({ permission: "User.Read.All", neededFor: "birthday", optional: false });
  if (tenant.immutableId.mode !== "off") {
    needs.push({ permission: DOMAIN_PERMISSION, neededFor: "Immutable ID sync", optional: false });
    needs.push({ permission: "User.ReadWrite.All", neededFor: "Immutable ID sync", optional: tenant.immutableId.mode !== "on" });
  }
  needs.push({ permission: "Application.Read.All", neededFor: "secret expiry", optional: true });
  return needs;
}

/** Whether a token's `roles` grant a permission (itself or a higher one). */
export const grants = (roles: readonly string[], permission: Permission): boolean => GRANTED_BY[permission].some((r) => roles.includes(r));

/** The URL at which a Global Administrator (or Privileged Role Administrator) of the tenant grants admin consent. */
export function adminConsentUrl(tenant: Pick<Tenant, "tenantId" | "clientId" | "cloud">): string {
  return `${CLOUDS[tenant.cloud as CloudName].authorityHost}/${tenant.tenantId}/adminconsent?client_id=${tenant.clientId}`;
}

/** What to tell the customer's admin about a permission the app lacks. */
export function missingPermissionAdvice(tenant: Pick<Tenant, "tenantId" | "clientId" | "cloud"> & { auth?: Tenant["auth"] }, permission: Permission): string {
  // A federated tenant consents to the platform's own app: its permissions are the platform's to add, the consent the customer's.
  if (tenant.auth === "federated")
    return `The platform's app ${tenant.clientId} must list the Microsoft Graph application permission ${permission} (its one-time setup), and the customer's admin must grant admin consent again: ${adminConsentUrl(tenant)}`;
  return `Ask the customer's admin to add the Microsoft Graph application permission ${permission} to app ${tenant.clientId} (API permissions → Add a permission → Microsoft Graph → Application permissions) and grant admin consent: ${adminConsentUrl(tenant)}`;
}

/** The permission a MISSING_PERMISSION message names (the messages are built with `missingPermissionAdvice`). */
export function permissionNamedIn(message: string): Permission | undefined {
  return (Object.keys(GRANTED_BY) as Permission[]).find((p) => new RegExp(`\\b${p.replace(/\./g, "\\.")}\\b`).test(message));
}
