/** Wiring the REAL SDKs to the simulator, as production code does (only the hosts differ). */
import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { Client } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import { Agent } from "undici";
import type { Simulator } from "../../../dev/simulator/index.js";

export function credential(sim: Simulator, tenantId: string, clientId: string, secret: string): ClientSecretCredential {
  return new ClientSecretCredential(tenantId, clientId, secret, {
    authorityHost: sim.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: sim.ca },
    retryOptions: { maxRetries: 0 },
  });
}

export function graphClient(sim: Simulator, cred: ClientSecretCredential): Client {
  const authProvider = new TokenCredentialAuthenticationProvider(cred, { scopes: ["https://graph.microsoft.com/.default"] });
  const dispatcher = new Agent({ connect: { ca: sim.ca } });
  return Client.initWithMiddleware({
    authProvider,
    baseUrl: sim.graphBaseUrl,
    customHosts: new Set(["127.0.0.1"]),
    fetchOptions: { dispatcher } as unknown as RequestInit,
  });
}

export function secretClient(sim: Simulator): SecretClient {
  const cred = credential(sim, sim.vaultIdentity.tenantId, sim.vaultIdentity.clientId, sim.vaultIdentity.clientSecret);
  return new SecretClient(sim.keyVaultUrl, cred, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: sim.ca },
    retryOptions: { maxRetries: 0 },
  });
}

/** A tenant with an app holding the given roles and a valid secret. */
export function setupTenant(
  sim: Simulator,
  roles: string[] = ["User.ReadWrite.All", "Domain.Read.All", "Application.Read.All"],
  tenant: Parameters<Simulator["control"]["createTenant"]>[0] = { displayName: "Contoso School" },
) {
  const t = sim.control.createTenant(tenant);
  const app = sim.control.createApp(t.id, { roles });
  const secret = sim.control.addSecret(t.id, app.clientId, { endDateTime: new Date(Date.now() + 86400_000 * 90) });
  const cred = credential(sim, t.id, app.clientId, secret.value);
  return { tenant: t, app, secret, cred, graph: graphClient(sim, cred) };
}

/** Raw fetch to the simulator (trusting its CA). */
export function simFetch(sim: Simulator, path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const dispatcher = new Agent({ connect: { ca: sim.ca } });
  const headers = new Headers(init.headers);
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  return fetch(path.startsWith("http") ? path : `${sim.baseUrl}${path}`, { ...init, headers, dispatcher } as RequestInit);
}

export async function tokenFor(cred: ClientSecretCredential): Promise<string> {
  const t = await cred.getToken("https://graph.microsoft.com/.default");
  return t.token;
}
