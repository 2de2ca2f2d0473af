import { GraphClientError } from "@microsoft/microsoft-graph-client";
import { EntraSyncError, ensureError } from "../errors.js";
import type { CloudName } from "../config/clouds.js";
import type { TenantAuth } from "../tenants/model.js";
import { adminConsentUrl, missingPermissionAdvice, type Permission } from "./permissions.js";

/** What a run knows about the tenant when it explains a failure. */
export interface TenantRef {
  tenantId: string;
  clientId: string;
  /** The tenant's cloud, for the admin-consent link of a consent error (without it, the link is left out). */
  cloud?: CloudName | undefined;
  /** `federated`: the platform's multi-tenant app with the managed identity's assertion; absent: the tenant's own secret. */
  auth?: TenantAuth | undefined;
}

const secretSetHint = (t: TenantRef) => `entra-sync secret set --tenant ${t.tenantId} --expires <YYYY-MM-DD> --from-stdin`;

/** What the customer's admin must grant for a denied call: the permission it needs and the admin-consent link. */
function consentAdvice(t: TenantRef, permission: Permission | undefined): string {
  if (permission && t.cloud) return `The call needs the Microsoft Graph application permission ${permission}. ${missingPermissionAdvice({ ...t, cloud: t.cloud }, permission)}`;
  if (permission) return `The call needs the Microsoft Graph application permission ${permission}: ask the customer's admin to add it to app ${t.clientId} and grant admin consent.`;
  const link = t.cloud ? ` (${adminConsentUrl({ ...t, cloud: t.cloud })})` : "";
  return `Ask the customer's admin to grant admin consent${link} for the Microsoft Graph application permissions the app needs (entra-sync tenant check ${t.tenantId} names them).`;
}

/** Entra does not know the tenant (AADSTS90002, or `invalid_tenant` from its discovery document). */
export const tenantNotFound = (t: TenantRef, cause: unknown): EntraSyncError =>
  new EntraSyncError("AUTH_TENANT_NOT_FOUND", `Tenant ${t.tenantId} does not exist in its cloud (AADSTS90002). Check the tenant id and the cloud with \`entra-sync tenant show ${t.tenantId}\`.`, { cause, retryable: false });

/**
 * Hands an EntraSyncError raised inside the Graph client (its middleware or credential) through the client
 * unchanged: the client passes GraphClientErrors on as they are and would turn anything else into a GraphError.
 */
export function throughGraphClient(e: EntraSyncError): GraphClientError {
  const g = new GraphClientError(e.message);
  g.customError = e;
  return g;
}

/** The EntraSyncError carried by anything the Graph client threw, if it carries one. */
export function classifiedCause(e: unknown): EntraSyncError | undefined {
  if (e instanceof EntraSyncError) return e;
  const custom = (e as { customError?: unknown } | null)?.customError;
  return custom instanceof EntraSyncError ? custom : undefined;
}

/**
 * Milliseconds a `Retry-After` value asks to wait: delay-seconds or an HTTP date (RFC 9110). Undefined when absent
 * or unreadable.
 */
export function parseRetryAfter(value: unknown): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const n = Number(value);
  if (!Number.isNaN(n)) return Math.max(0, n * 1000);
  const d = Date.parse(String(value));
  return Number.isNaN(d) ? undefined : Math.max(0, d - Date.now());
}

/** The Graph error code and status of anything the Graph client threw. */
export function graphErrorInfo(e: unknown): { status: number | undefined; code: string | undefined; message: string; retryAfter: number | undefined; detailCodes: string[] } {
  const any = e as { statusCode?: unknown; code?: unknown; message?: unknown; body?: unknown; headers?: Headers | undefined };
  let status = typeof any?.statusCode === "number" && any.statusCode > 0 ? any.statusCode : undefined;
  let code = typeof any?.code === "string" ? any.code : undefined;
  let message = typeof any?.message === "string" ? any.message : ensureError(e).message;
  const detailCodes: string[] = [];
  let body: unknown = any?.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      /* not JSON */
    }
  }
  const err = (body as { error?: { code?: string; message?: string; details?: Array<{ code?: string }> } } | undefined)?.error;
  if (err) {
    code = err.code ?? code;
    message = err.message ?? message;
    for (const d of err.details ?? []) if (d.code) detailCodes.push(d.code);
  }
  const raMs = parseRetryAfter(any?.headers instanceof Headers ? any.headers.get("Retry-After") : undefined);
  const retryAfter = raMs === undefined ? undefined : Math.ceil(raMs / 1000);
  if (status === undefined && /ECONNRESET|ECONNREFUSED|ETIMEDOUT|fetch failed|socket hang up/i.test(message)) status = 0;
  return { status, code, message, retryAfter, detailCodes };
}

/** Why Entra refused the managed identity's assertion, by the codes Microsoft documents for workload identity federation. */
const FEDERATION_CODES: Record<string, string> = {
  "70021": "no federated identity credential of the app matches the assertion",
  "700211": "no federated identity credential of the app has the assertion's issuer (the platform tenant's https://login.microsoftonline.com/<tenant>/v2.0)",
  "700212": "no federated identity credential of the app has the assertion's audience (api://AzureADTokenExchange, or the national cloud's own)",
  "700213": "no federated identity credential of the app has the assertion's subject (the managed identity's object (principal) id)",
  "700024": "the assertion is not within its valid time range",
  "700027": "the assertion's signature could not be validated",
  "50027": "the assertion is not a valid JWT",
};

/**
 * A token refusal for a federated tenant: a mismatch of the app's federated identity credential is the platform's
 * own setup (every federated tenant fails alike; nothing for the customer to do); a missing service principal means
 * the customer has not granted, or has revoked, admin consent.
 */
function classifyFederatedTokenError(aadsts: string, t: TenantRef, e: unknown): EntraSyncError | undefined {
  const why = FEDERATION_CODES[aadsts];
  if (why)
    return new EntraSyncError(
      "AUTH_FEDERATION_MISMATCH",
      `Entra refused the managed identity's assertion for the platform's app ${t.clientId} in tenant ${t.tenantId} (AADSTS${aadsts}): ${why}. This is the platform's one-time setup, not the customer's: compare the app's federated credential with the deployment's outputs (README, Federated tenants).`,
      { cause: e, retryable: false },
    );
  if (aadsts === "700016") {
    const link = t.cloud ? `: ${adminConsentUrl({ tenantId: t.tenantId, clientId: t.clientId, cloud: t.cloud })}` : "";
    return new EntraSyncError(
      "AUTH_APP_NOT_FOUND",
      `The platform's app ${t.clientId} has no admin consent in tenant ${t.tenantId} (AADSTS700016): it was never granted, or it was revoked (the enterprise application deleted). Ask the customer's admin to grant admin consent${link}`,
      { cause: e, retryable: false },
    );
  }
  return undefined;
}

/**
 * Turns a failure of the token endpoint or of Graph into an EntraSyncError whose message tells an operator what to
 * do. One place for Entra's AADSTS codes and Graph's error codes. `permission`: the least privileged application
 * permission the failing call needs, named with the tenant's admin-consent link when Graph denies it.
 */
export function classifyGraphError(e: unknown, t: TenantRef, what: string, permission?: Permission): EntraSyncError {
  const known = classifiedCause(e);
  if (known) return known;
  const text = ensureError(e).message;
  const aadsts = /AADSTS(\d+)/.exec(text)?.[1];
  if (aadsts && t.auth === "federated") {
    const federated = classifyFederatedTokenError(aadsts, t, e);
    if (federated) return federated;
  }
  if (aadsts) {
    switch (aadsts) {
      case "7000222":
        return new EntraSyncError("AUTH_SECRET_EXPIRED", `Entra rejected the client secret of tenant ${t.tenantId}: it has expired (AADSTS7000222). Ask the customer's admin for a new client secret and run \`${secretSetHint(t)}\`.`, { cause: e, retryable: false });
      case "7000215":
        return new EntraSyncError("AUTH_SECRET_INVALID", `Entra rejected the client secret of tenant ${t.tenantId} as invalid (AADSTS7000215). Often the secret's ID was stored instead of its Value: ask the customer's admin for the Value of a client secret of app ${t.clientId} and run \`${secretSetHint(t)}\`.`, { cause: e, retryable: false });
      case "700016":
        return new EntraSyncError("AUTH_APP_NOT_FOUND", `App ${t.clientId} is not found in tenant ${t.tenantId} (AADSTS700016): it is not registered there or admin consent was never given. Ask the customer's admin to grant consent, or fix the client id with \`entra-sync tenant update ${t.tenantId} --client-id <id>\`.`, { cause: e, retryable: false });
      case "90002":
        return tenantNotFound(t, e);
      case "7000112":
        return new EntraSyncError("AUTH_APP_DISABLED", `App ${t.clientId} is disabled in tenant ${t.tenantId} (AADSTS7000112). Ask the customer's admin to enable it.`, { cause: e, retryable: false });
      default:
        return new EntraSyncError("AUTH_FAILED", `Entra refused a token for app ${t.clientId} in tenant ${t.tenantId} (AADSTS${aadsts}) while trying to ${what}.`, { cause: e, retryable: false });
    }
  }
  const info = graphErrorInfo(e);
  if (info.status === 403 && info.code === "Authorization_RequestDenied")
    return new EntraSyncError("AUTH_CONSENT_MISSING", `Graph denied app ${t.clientId} in tenant ${t.tenantId} the right to ${what} (403 Authorization_RequestDenied). ${consentAdvice(t, permission)}`, { cause: e, retryable: false });
  if (info.status === 429)
    return new EntraSyncError("GRAPH_THROTTLED", `Graph throttled tenant ${t.tenantId} while trying to ${what}${info.retryAfter ? `; it asked to wait ${info.retryAfter} s` : ""}. The next run resumes from the checkpoint.`, { cause: e, retryable: true, ...(info.retryAfter ? { retryAfterSeconds: info.retryAfter } : {}) });
  if (info.status === 0 || (info.status !== undefined && info.status >= 500))
    return new EntraSyncError("GRAPH_TRANSIENT", `Graph failed to ${what} for tenant ${t.tenantId} (${info.status ? `HTTP ${info.status}` : "network error"}${info.code ? ` ${info.code}` : ""}). The next run resumes from the checkpoint.`, { cause: e, retryable: true });
  if (/unable to get local issuer|self.signed|certificate/i.test(text))
    return new EntraSyncError("CONFIG_INVALID", `TLS to Graph or Entra failed for tenant ${t.tenantId}: ${text}`, { cause: e, retryable: false });
  return new EntraSyncError("GRAPH_REQUEST_FAILED", `Graph refused to ${what} for tenant ${t.tenantId} (${info.status ? `HTTP ${info.status}` : "no status"}${info.code ? ` ${info.code}` : ""}: ${info.message}).`, { cause: e, retryable: false });
}
