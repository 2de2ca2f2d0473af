/**
 * Federated tenants: no client secret exists. The customer grants admin consent to the platform's own multi-tenant
 * app, whose federated identity credential trusts the function app's user-assigned managed identity; a token for the
 * customer's tenant is then got with a client assertion, the managed identity's token for the cloud's token-exchange
 * audience (Microsoft's "Configure an application to trust a managed identity").
 */
import { ClientAssertionCredential } from "@azure/identity";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { CLOUDS, type CloudName } from "../config/clouds.js";
import type { Settings } from "../config/settings.js";
import { EntraSyncError, ensureError } from "../errors.js";
import { throughGraphClient } from "../graph/errors.js";
import type { Tenant, TenantAuth } from "../tenants/model.js";
import type { ClientSecret, SecretStore } from "./store.js";

export type { TenantAuth };

/** A federated tenant's sign-in: nothing to read from Key Vault. */
export interface FederatedSignIn {
  kind: "federated";
  tenantId: string;
}

/** What a run signs in to a tenant with: the tenant's client secret, or the federated app (no secret). */
export type TenantSignIn = ClientSecret | FederatedSignIn;

export const isFederated = (t: Pick<Tenant, "auth">): boolean => t.auth === "federated";

export const isFederatedSignIn = (s: TenantSignIn): s is FederatedSignIn => "kind" in s && s.kind === "federated";

/**
 * What a tenant signs in with: for a federated tenant nothing is read (there is no secret), otherwise its client
 * secret from Key Vault (SECRET_MISSING when none is stored).
 */
export async function signInFor(deps: { secrets: Pick<SecretStore, "get"> }, tenant: Pick<Tenant, "tenantId" | "auth">): Promise<TenantSignIn> {
  if (isFederated(tenant)) return { kind: "federated", tenantId: tenant.tenantId };
  return deps.secrets.get(tenant.tenantId);
}

/** The audience of the managed identity's token that the federated credential trusts, per cloud. */
export const tokenExchangeAudience = (cloud: CloudName): string => CLOUDS[cloud].tokenExchangeAudience;

/**
 * The fields a federated registration takes from the settings: its client id is the platform's multi-tenant app.
 * Refuses a federated tenant when the app is not configured, and a client id that is not the platform's app.
 */
export function federatedRegistration(settings: Pick<Settings, "federation">, input: Record<string, unknown>): Record<string, unknown> {
  if (input["auth"] !== "federated") return input;
  const f = settings.federation;
  if (!f)
    throw new EntraSyncError("CONFIG_INVALID", "--auth federated needs the platform's multi-tenant app: set FEDERATED_APP_CLIENT_ID and MANAGED_IDENTITY_CLIENT_ID (the deployment's outputs; see README, Federated tenants).", { field: "auth", retryable: false });
  const given = typeof input["clientId"] === "string" ? input["clientId"].trim().toLowerCase() : undefined;
  if (given && given !== f.appClientId)
    throw new EntraSyncError("INPUT_INVALID", `--client-id ${given} is not the platform's app (${f.appClientId}): a federated tenant consents to the platform's app; leave --client-id out.`, { field: "client-id", retryable: false });
  return { ...input, clientId: f.appClientId };
}

export interface FederatedCredentialOptions {
  tenant: Pick<Tenant, "tenantId" | "cloud">;
  /** The platform's multi-tenant app (FEDERATED_APP_CLIENT_ID). */
  appClientId: string;
  /** The managed identity whose token is the client assertion (a ManagedIdentityCredential in Azure). */
  assertionSource: TokenCredential;
  /** The tenant's cloud's sign-in host. */
  authorityHost: string;
  /** A host was overridden (local stack): MSAL must skip instance discovery. */
  custom: boolean;
  ca?: string | undefined;
}

/**
 * The credential of a federated tenant: `ClientAssertionCredential` for the platform's app in the customer's tenant,
 * its assertion the managed identity's token for the cloud's exchange audience. A managed identity that cannot give
 * that token fails as AUTH_MANAGED_IDENTITY_FAILED (the platform's configuration, not the customer's), carried
 * through the Graph client.
 */
export function federatedCredential(o: FederatedCredentialOptions): TokenCredential {
  const audience = tokenExchangeAudience(o.tenant.cloud);
  let assertionFailure: EntraSyncError | undefined;
  const inner = new ClientAssertionCredential(
    o.tenant.tenantId,
    o.appClientId,
    async () => {
      try {
        const t = await o.assertionSource.getToken(`${audience}/.default`);
        if (!t?.token) throw new Error("the managed identity returned no token");
        return t.token;
      } catch (e) {
        assertionFailure = new EntraSyncError(
          "AUTH_MANAGED_IDENTITY_FAILED",
          `The managed identity (MANAGED_IDENTITY_CLIENT_ID) gave no token for ${audience}, so no federated tenant can sign in (${ensureError(e).message}). Check that the user-assigned identity is assigned to the function app and MANAGED_IDENTITY_CLIENT_ID is its client id.`,
          { cause: e, retryable: true },
        );
        throw assertionFailure;
      }
    },
    {
      authorityHost: o.authorityHost,
      ...(o.custom ? { disableInstanceDiscovery: true } : {}),
      ...(o.ca ? { tlsOptions: { ca: o.ca } } : {}),
    },
  );
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      assertionFailure = undefined;
      try {
        return await inner.getToken(scopes, options);
      } catch (e) {
        if (assertionFailure) throw throughGraphClient(assertionFailure);
        throw e;
      }
    },
  };
}
