/**
 * A tenant's credential that says why Entra refused to name its endpoints. MSAL asks the authority for the tenant's
 * OpenID configuration before any token request; when that fails it reports only `endpoints_resolution_error`,
 * whether Entra answered "no such tenant" (400 `invalid_tenant`, AADSTS90002) or could not be reached. This wrapper
 * asks the same document once more and decides by the answer's status and error code.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { EntraSyncError, ensureError } from "../errors.js";
import { tenantNotFound, throughGraphClient, type TenantRef } from "./errors.js";
import { trusting } from "./tls.js";

export interface TenantAuthority {
  /** The cloud's sign-in host, e.g. https://login.microsoftonline.com. */
  authorityHost: string;
  tenant: TenantRef;
  /** Extra CA certificate (PEM) to trust: the local simulator's. */
  ca?: string | undefined;
}


/** What the tenant's discovery document answers: the tenant is unknown, the host unreachable, or neither. */
export async function probeTenantDiscovery(a: TenantAuthority): Promise<"tenantNotFound" | "unreachable" | "other"> {
  const url = `${new URL(a.authorityHost).origin}/${encodeURIComponent(a.tenant.tenantId)}/v2.0/.well-known/openid-configuration`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000), ...trusting(a.ca) });
  } catch {
    return "unreachable";
  }
  const body = (await res.json().catch(() => undefined)) as { error?: unknown; error_codes?: unknown } | undefined;
  const codes = Array.isArray(body?.error_codes) ? body.error_codes : [];
  if (res.status === 400 && (codes.includes(90002) || body?.error === "invalid_tenant")) return "tenantNotFound";
  return res.status >= 500 ? "unreachable" : "other";
}

/**
 * Wraps a tenant's credential for the Graph client so that a failed endpoint discovery is told apart by asking Entra
 * itself: AUTH_TENANT_NOT_FOUND or GRAPH_TRANSIENT, carried through the client (`classifiedCause` finds them).
 */
export function withTenantDiagnosis(credential: TokenCredential, a: TenantAuthority): TokenCredential {
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      try {
        return await credential.getToken(scopes, options);
      } catch (e) {
        if (!/endpoints_resolution_error/.test(ensureError(e).message)) throw e;
        const found = await probeTenantDiscovery(a);
        if (found === "tenantNotFound") throw throughGraphClient(tenantNotFound(a.tenant, e));
        if (found === "unreachable")
          throw throughGraphClient(new EntraSyncError("GRAPH_TRANSIENT", `Entra's sign-in host ${new URL(a.authorityHost).host} could not be reached for tenant ${a.tenant.tenantId}. The next run tries again.`, { cause: e, retryable: true }));
        throw e;
      }
    },
  };
}
