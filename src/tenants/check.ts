/**
 * `tenant check`: does the tenant's app hold the Graph permissions its enabled capabilities need? Gets a token, reads
 * the permissions it carries, tries (read-only) the call each capability makes, and says per permission what to do.
 */
import { EntraSyncError } from "../errors.js";
import { newGraphCounters, type GraphCounters } from "../graph/client.js";
import { classifyGraphError } from "../graph/errors.js";
import type { ProbeKind, ProbeResult, TenantGraphHandle } from "../graph/tenant-graph.js";
import { adminConsentUrl, grants, permissionsFor, type Capability, type Permission } from "../graph/permissions.js";
import type { ClientSecret } from "../secrets/store.js";
import { signInFor, type TenantSignIn } from "../secrets/federated.js";
import { parseGuid, type Tenant } from "./model.js";

/** What the check needs (the App provides it). */
export interface TenantCheckDeps {
  tenants: { require(tenantId: string): Promise<Tenant> };
  secrets: { get(tenantId: string): Promise<ClientSecret> };
  graphFor(tenant: Tenant, signIn: TenantSignIn, counters: GraphCounters): Pick<TenantGraphHandle, "graph">;
}

/** One line of the check: a permission, what it is for, whether the token holds it, and what the call answered. */
export interface PermissionCheck {
  permission: Permission;
  neededFor: Capability;
  optional: boolean;
  /** The token's `roles` hold this permission or a higher one that includes it. */
  granted: boolean;
  /** `ok`: the call worked; `denied`: Graph answered 403; `error`: another failure; `notTried`: no read-only call can show it (writes). */
  result: "ok" | "denied" | "error" | "notTried";
  /** Graph's status and code when the call failed. */
  detail?: string | undefined;
  /** What to do ("" when nothing). */
  action: string;
}

export interface TenantCheckResult {
  tenantId: string;
  clientId: string;
  displayName: string;
  /** Where the tenant's admin grants admin consent. */
  adminConsentUrl: string;
  /** The application permissions in the token (empty without admin consent). */
  roles: string[];
  /** Set when no token could be had: the error code and what to do; then no call was tried. */
  tokenError?: { code: string; message: string } | undefined;
  checks: PermissionCheck[];
  /** Every permission that is not optional works. */
  ok: boolean;
}

/** Checks the Graph permissions of a tenant's app. Reads only; never throws for what Graph or Entra answer. */
export async function checkTenant(deps: TenantCheckDeps, tenantIdInput: string): Promise<TenantCheckResult> {
  const tenant = await deps.tenants.require(parseGuid(tenantIdInput, "tenantId"));
  const ref = { tenantId: tenant.tenantId, clientId: tenant.clientId, auth: tenant.auth };
  const consentUrl = adminConsentUrl(tenant);
  const base = { tenantId: tenant.tenantId, clientId: tenant.clientId, displayName: tenant.displayName, adminConsentUrl: consentUrl };
  const needs = permissionsFor(tenant);
  const untried = (message: string): PermissionCheck[] => needs.map((n) => ({ ...n, granted: false, result: "error", action: message }));

  let roles: string[];
  let graph: TenantGraphHandle["graph"];
  try {
    graph = deps.graphFor(tenant, await signInFor(deps, tenant), newGraphCounters()).graph;
    roles = await graph.grantedRoles();
  } catch (e) {
    // classifyGraphError finds what the tenant credential already named (e.g. AUTH_TENANT_NOT_FOUND).
    const err = e instanceof EntraSyncError ? e : classifyGraphError(e, ref, "get a token");
    return { ...base, roles: [], tokenError: { code: err.code, message: err.message }, checks: untried(err.message), ok: false };
  }

  const probes = new Map<ProbeKind, Promise<ProbeResult>>();
  const once = (kind: ProbeKind) => {
    if (!probes.has(kind)) probes.set(kind, graph.probe(kind));
    return probes.get(kind)!;
  };
  const checks: PermissionCheck[] = [];
  for (const n of needs) {
    const granted = grants(roles, n.permission);
    let r: ProbeResult | undefined;
    if (n.neededFor === "update sync") r = await once("delta");
    else if (n.neededFor === "birthday") r = await once("birthday");
    else if (n.permission === "Domain.Read.All") r = await once("domains");
    else if (n.permission === "Application.Read.All") r = await once("application");
    const result: PermissionCheck["result"] = r === undefined ? "notTried" : r.ok ? "ok" : r.status === 403 ? "denied" : "error";
    const detail = r && !r.ok ? `${r.status ?? "no status"}${r.code ? ` ${r.code}` : ""}` : undefined;
    checks.push({ ...n, granted, result, ...(detail ? { detail } : {}), action: actionFor(n, granted, result, consentUrl, r) });
  }
  return { ...base, roles, checks, ok: checks.every((c) => c.optional || c.result === "ok" || (c.result === "notTried" && c.granted)) };
}

const FALLBACK: Partial<Record<Capability, string>> = {
  "secret expiry": "optional: without it the expiry date recorded with `entra-sync secret set` is used",
  "Immutable ID sync": "needed before Immutable ID sync runs in mode on",
};

function actionFor(n: { permission: Permission; neededFor: Capability; optional: boolean }, granted: boolean, result: PermissionCheck["result"], consentUrl: string, r: ProbeResult | undefined): string {
  if (result === "ok" || (result === "notTried" && granted)) return "";
  if (result === "error" && granted) return `Graph failed (${r && !r.ok ? r.message : "unknown"}); try again later`;
  const grant = `add the Microsoft Graph application permission ${n.permission} to the app and grant admin consent: ${consentUrl}`;
  return n.optional ? `${FALLBACK[n.neededFor] ?? "optional"}; to use it, ${grant}` : grant.charAt(0).toUpperCase() + grant.slice(1);
}

