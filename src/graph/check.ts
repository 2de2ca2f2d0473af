/**
 * Read-only Graph calls that tell whether a tenant's app may make the calls entra-sync needs (`tenant check`). Each
 * is the cheapest call the same permission guards; none writes anything.
 */
import type { TokenCredential } from "@azure/core-auth";
import type { Client } from "@microsoft/microsoft-graph-client";
import { graphScope } from "./client.js";
import { graphErrorInfo } from "./errors.js";
import type { ProbeResult } from "./tenant-graph.js";


async function probe(client: Client, path: string): Promise<ProbeResult> {
  try {
    await client.api(path).get();
    return { ok: true };
  } catch (e) {
    const i = graphErrorInfo(e);
    return { ok: false, status: i.status, code: i.code, message: i.message };
  }
}

/** `GET /users/delta?$deltatoken=latest`: the delta query update sync reads, without reading a user. */
export const probeUserDelta = (client: Client) => probe(client, "/users/delta?$select=id&$deltatoken=latest");

/** `GET /users/{id}?$select=birthday` for one user (the only way Graph serves birthday); ok when the tenant has none. */
export async function probeBirthday(client: Client): Promise<ProbeResult> {
  let first: { value?: Array<{ id: string }> };
  try {
    first = (await client.api("/users?$top=1&$select=id").get()) as { value?: Array<{ id: string }> };
  } catch (e) {
    const i = graphErrorInfo(e);
    return { ok: false, status: i.status, code: i.code, message: i.message };
  }
  const id = first.value?.[0]?.id;
  return id ? probe(client, `/users/${encodeURIComponent(id)}?$select=id,birthday`) : { ok: true };
}

/** `GET /domains`: what Immutable ID sync reads to tell federated domains apart. */
export const probeDomains = (client: Client) => probe(client, "/domains?$select=id,authenticationType");

/** `GET /applications(appId='…')`: the app's own object, where secret expiry reads its passwordCredentials. */
export const probeApplication = (client: Client, clientId: string) => probe(client, `/applications(appId='${encodeURIComponent(clientId)}')?$select=id`);

/**
 * The application permissions in an access token's `roles` claim ([] when absent: no admin consent). Only the
 * payload is decoded, without checking the signature: the token came straight from Entra's token endpoint over TLS
 * for this request, it is read only to explain what Graph answers (never to allow anything), and Graph itself
 * checks it on every call. Microsoft calls Graph tokens opaque to clients, so the probes, not the claim, decide.
 */
export function tokenRoles(accessToken: string): string[] {
  const payload = accessToken.split(".")[1];
  if (!payload) return [];
  try {
    const roles = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { roles?: unknown }).roles;
    return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === "string") : [];
  } catch {
    return [];
  }
}

/** The application permissions a tenant's credential gets for Graph; undefined when no token could be had. */
export async function grantedRoles(credential: TokenCredential, graphBaseUrl: string): Promise<string[] | undefined> {
  try {
    const t = await credential.getToken(graphScope(graphBaseUrl));
    return t ? tokenRoles(t.token) : undefined;
  } catch {
    return undefined;
  }
}
