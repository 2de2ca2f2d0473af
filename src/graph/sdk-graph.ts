/**
 * `TenantGraph` over the Microsoft Graph SDK client (`client.ts`: its auth, retry, redirect and counting middleware).
 * The one place that turns entra-sync's Graph needs into Graph requests: paths, `$select`, `$batch` (`batch.ts`),
 * delta paging (`delta.ts`) and the mapping of Graph's errors (`errors.ts`).
 */
import type { TokenCredential } from "@azure/core-auth";
import type { Client } from "@microsoft/microsoft-graph-client";
import { EntraSyncError } from "../errors.js";
import { chunk, mapLimit } from "../util/concurrency.js";
import { BATCH_SIZE, executeBatch, type BatchRequest } from "./batch.js";
import { probeApplication, probeBirthday, probeDomains, probeUserDelta, tokenRoles } from "./check.js";
import { graphScope, type GraphCounters } from "./client.js";
import { fetchDeltaPage } from "./delta.js";
import { classifyGraphError, graphErrorInfo, type TenantRef } from "./errors.js";
import type {
  BatchRetryOptions,
  DeltaPage,
  GraphAnswer,
  PasswordCredentialInfo,
  PatchOptions,
  ProbeKind,
  ProbeResult,
  TenantDomains,
  TenantGraph,
  UserPatch,
  UserQuery,
  UserState,
} from "./tenant-graph.js";
import type { GraphUser } from "./users.js";

/** What the writers re-read of a user before writing it. */
const USER_STATE_SELECT = "id,userPrincipalName,onPremisesImmutableId,onPremisesSyncEnabled";
const userUrl = (id: string) => `/users/${encodeURIComponent(id)}`;
/** An OData string literal. */
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export class SdkTenantGraph implements TenantGraph {
  constructor(
    /** The SDK client (for tests of the middleware; use cases never see it). */
    readonly client: Client,
    readonly tenant: TenantRef,
    readonly counters: GraphCounters,
    private readonly graphBaseUrl: string,
    private readonly credential: TokenCredential,
  ) {}

  deltaPage(link: string | undefined, select: readonly string[]): Promise<DeltaPage> {
    return fetchDeltaPage({ client: this.client, tenant: this.tenant, graphBaseUrl: this.graphBaseUrl, select, link });
  }

  async getUser(idOrUpn: string, select: readonly string[]): Promise<GraphUser | undefined> {
    try {
      return (await this.client.api(userUrl(idOrUpn)).select([...select]).get()) as GraphUser;
    } catch (e) {
      if (graphErrorInfo(e).status === 404) return undefined;
      throw classifyGraphError(e, this.tenant, "read one user", "User.Read.All");
    }
  }

  /** Graph serves birthday only per user: one GET each, 8 at a time. */
  async birthdays(ids: readonly string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    await mapLimit([...ids], 8, async (id) => {
      try {
        const u = (await this.client.api(userUrl(id)).select(["id", "birthday"]).get()) as { birthday?: string | null };
        out.set(id, u.birthday && !u.birthday.startsWith("0001-01-01") ? u.birthday : null);
      } catch (e) {
        const err = classifyGraphError(e, this.tenant, "read a user's birthday", "User.Read.All");
        if (err.code !== "GRAPH_REQUEST_FAILED") throw err;
        // a user deleted meanwhile: leave the birthday as it is
      }
    });
    return out;
  }

  async domains(): Promise<TenantDomains | "denied"> {
    let body: { value?: Array<{ id: string; authenticationType?: string; isInitial?: boolean }> };
    try {
      body = (await this.client.api("/domains").get()) as typeof body;
    } catch (e) {
      if (graphErrorInfo(e).status === 403) return "denied";
      throw classifyGraphError(e, this.tenant, "read the tenant's domains (Immutable ID sync writes nothing without them)");
    }
    const list = body.value ?? [];
    return {
      federated: new Set(list.filter((d) => /^federated$/i.test(d.authenticationType ?? "")).map((d) => d.id.toLowerCase())),
      initial: list.find((d) => d.isInitial)?.id.toLowerCase(),
    };
  }

  async passwordCredentials(): Promise<PasswordCredentialInfo[] | "denied"> {
    try {
      const body = (await this.client.api(`/applications(appId='${this.tenant.clientId}')`).select("passwordCredentials").get()) as { passwordCredentials?: PasswordCredentialInfo[] };
      return body.passwordCredentials ?? [];
    } catch (e) {
      const info = graphErrorInfo(e);
      if (info.status === 403) return "denied";
      if (info.status === 404) return [];
      throw classifyGraphError(e, { tenantId: this.tenant.tenantId, clientId: this.tenant.clientId }, "read its own application object", "Application.Read.All");
    }
  }

  readUsers(ids: readonly string[], retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>> {
    return this.batched(
      ids.map((id): BatchRequest => ({ id, method: "GET", url: `${userUrl(id)}?$select=${USER_STATE_SELECT}` })),
      retry,
    );
  }

  findUsers(queries: readonly UserQuery[], retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>> {
    return this.batched(
      queries.map((q): BatchRequest => ({ id: q.key, method: "GET", url: `/users?$filter=${encodeURIComponent(`${q.property} eq ${literal(q.value)}`)}&$select=id` })),
      retry,
    );
  }

  async patchUsers(patches: readonly UserPatch[], o: PatchOptions, retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>> {
    const byKey = new Map(patches.map((p) => [p.key, p]));
    /** The keys whose changes are in place now: a write whose answer was lost that did land. */
    const verify = async (keys: string[]): Promise<Set<string>> => {
      const want = keys.map((k) => byKey.get(k)!).filter(Boolean);
      const got = await this.readUsers(want.map((w) => w.userId), retry);
      const landed = new Set<string>();
      for (const p of want) {
        const b = got.get(p.userId)?.body as UserState | undefined;
        const c = p.changes;
        if (b && (c.onPremisesImmutableId === undefined || b.onPremisesImmutableId === c.onPremisesImmutableId) && (c.userPrincipalName === undefined || b.userPrincipalName === c.userPrincipalName)) landed.add(p.key);
      }
      return landed;
    };
    const out = new Map<string, GraphAnswer>();
    for (const part of chunk(patches, BATCH_SIZE)) {
      const requests = part.map((p): BatchRequest => ({ id: p.key, method: "PATCH", url: userUrl(p.userId), body: { ...p.changes } }));
      for (const [k, a] of await executeBatch(requests, { client: this.client, tenant: this.tenant, counters: this.counters, ...retry, budget: o.pacer, verify: o.verifyLost === false ? undefined : verify })) out.set(k, a);
    }
    return out;
  }

  async grantedRoles(): Promise<string[]> {
    try {
      const token = await this.credential.getToken(graphScope(this.graphBaseUrl));
      if (!token) throw new EntraSyncError("AUTH_FAILED", `Entra gave no token for app ${this.tenant.clientId} in tenant ${this.tenant.tenantId}.`, { retryable: false });
      return tokenRoles(token.token);
    } catch (e) {
      // classifyGraphError finds what the tenant credential already named (e.g. AUTH_TENANT_NOT_FOUND).
      throw e instanceof EntraSyncError ? e : classifyGraphError(e, { tenantId: this.tenant.tenantId, clientId: this.tenant.clientId }, "get a token");
    }
  }

  probe(kind: ProbeKind): Promise<ProbeResult> {
    switch (kind) {
      case "delta":
        return probeUserDelta(this.client);
      case "birthday":
        return probeBirthday(this.client);
      case "domains":
        return probeDomains(this.client);
      case "application":
        return probeApplication(this.client, this.tenant.clientId);
    }
  }

  /** Sends requests as `$batch`es of 20, one after the other; one final answer per request id. */
  private async batched(requests: BatchRequest[], retry: BatchRetryOptions | undefined): Promise<Map<string, GraphAnswer>> {
    const out = new Map<string, GraphAnswer>();
    for (const part of chunk(requests, BATCH_SIZE)) for (const [k, a] of await executeBatch(part, { client: this.client, tenant: this.tenant, counters: this.counters, ...retry })) out.set(k, a);
    return out;
  }
}
