/**
 * Everything entra-sync asks of one tenant's Microsoft Graph, as one interface of our own: the use cases depend on
 * this alone (never on the Graph SDK), so their logic runs against an in-memory implementation in unit tests and
 * against the SDK adapter (`sdk-graph.ts`) everywhere else. Results are plain data; failures of the whole tenant
 * (auth, consent, throttling to the end, a foreign link) are thrown as classified `EntraSyncError`s.
 */
import type { TokenCredential } from "@azure/core-auth";
import type { GraphCounters } from "./client.js";
import type { TenantRef } from "./errors.js";
import type { DeltaEntry, GraphUser } from "./users.js";
import type { WritePacer } from "./write-budget.js";

export interface DeltaPage {
  entries: DeltaEntry[];
  /** Link to the next page of this round (the checkpoint while a run is under way). */
  nextLink?: string | undefined;
  /** Link for the next round (the checkpoint between runs); present on the last page only. */
  deltaLink?: string | undefined;
}

export interface TenantDomains {
  /** Lower-case names of the tenant's federated domains. */
  federated: Set<string>;
  /** The tenant's initial `*.onmicrosoft.com` domain (switchUpn moves UPNs there); undefined when unknown. */
  initial: string | undefined;
}

/** One of the tenant's application's password credentials (no secret value: Graph never returns one). */
export interface PasswordCredentialInfo {
  endDateTime?: string | null;
  /** The first three characters of the secret. */
  hint?: string | null;
  keyId?: string | null;
}

/** Graph's answer to one request of a `$batch`: its status and body (an `error` object when it failed). */
export interface GraphAnswer {
  status: number;
  body?: { error?: { code?: string; message?: string; details?: Array<{ code?: string }> } } & Record<string, unknown>;
  /** True when the answer was lost (5xx, network) and a re-read found the write's effect in place. */
  verified?: boolean;
}

/** A user as the writers re-read it before writing. */
export interface UserState {
  id: string;
  userPrincipalName?: string | null;
  onPremisesImmutableId?: string | null;
  onPremisesSyncEnabled?: boolean | null;
}

/** One PATCH of a user: `key` names its answer (one user may be patched twice in a call, e.g. with `m-`/`s-` keys). */
export interface UserPatch {
  key: string;
  userId: string;
  changes: { onPremisesImmutableId?: string; userPrincipalName?: string };
}

export interface PatchOptions {
  /** Every PATCH (retries included) takes one write from this pacer before it goes. */
  pacer: WritePacer;
  /**
   * When an answer is lost (5xx, network), re-read the user and count the PATCH done (answer 204, `verified`) when its
   * changes are in place, instead of sending it again. Default true.
   */
  verifyLost?: boolean;
}

/** A user query by one exact property value (`$filter=… eq '…'`); `key` names its answer. */
export interface UserQuery {
  key: string;
  property: "onPremisesImmutableId" | "userPrincipalName";
  value: string;
}

/** The read-only calls `tenant check` tries, one per capability. */
export type ProbeKind = "delta" | "birthday" | "domains" | "application";

/** The answer to one probe: the call worked, or Graph's status and error code. */
export type ProbeResult = { ok: true } | { ok: false; status: number | undefined; code: string | undefined; message: string };

/** Retry limits of the `$batch` calls (tests shorten them). */
export interface BatchRetryOptions {
  /** Attempts on 5xx / network errors (default 5). */
  maxAttempts?: number;
  /** 429s retried up to this many times (default 30). */
  maxThrottleRetries?: number;
  /** Base of the exponential backoff in ms (default 500). */
  backoffMs?: number;
}

/** One tenant's Microsoft Graph, as the use cases see it. */
export interface TenantGraph {
  readonly tenant: TenantRef;
  /** The run's Graph counters (requests, throttled, retried) this graph adds to. */
  readonly counters: GraphCounters;
  /** One page of `/users/delta` (`Prefer: return=minimal`) from a checkpoint link, or a new round's first page. */
  deltaPage(link: string | undefined, select: readonly string[]): Promise<DeltaPage>;
  /** One user by object id or UPN (`GET /users/{id | userPrincipalName}` with `$select`); undefined when Entra has none. */
  getUser(idOrUpn: string, select: readonly string[]): Promise<GraphUser | undefined>;
  /** Each user's birthday (`null` when unset); a user gone meanwhile is left out. */
  birthdays(ids: readonly string[]): Promise<Map<string, string | null>>;
  /** The tenant's domains; `"denied"` when the app may not list them (403). */
  domains(): Promise<TenantDomains | "denied">;
  /** The password credentials of the tenant's own app; `"denied"` without Application.Read.All, [] when not found. */
  passwordCredentials(): Promise<PasswordCredentialInfo[] | "denied">;
  /** Re-reads users (`$batch` of GETs, 20 per batch); one answer per id, body a `UserState` when 200. */
  readUsers(ids: readonly string[], retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>>;
  /** Users holding a value (`$batch` of `$filter` reads); one answer per key, body `{ value: [{ id }] }` when 200. */
  findUsers(queries: readonly UserQuery[], retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>>;
  /** PATCHes users (`$batch`, 20 per batch, paced by `o.pacer`); one final answer per key. */
  patchUsers(patches: readonly UserPatch[], o: PatchOptions, retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>>;
  /** The application permissions the tenant's token carries (its `roles` claim); throws when no token can be had. */
  grantedRoles(): Promise<string[]>;
  /** One read-only call of a capability, for `tenant check`. */
  probe(kind: ProbeKind): Promise<ProbeResult>;
}

/** What `App.graphFor` hands out: the tenant's graph and the one credential it signs in with. */
export interface TenantGraphHandle {
  graph: TenantGraph;
  /** The tenant's app credential (client secret) the graph uses; an unknown tenant is named as such. */
  credential: TokenCredential;
  /** Origin of the tenant's Graph, e.g. https://graph.microsoft.com. */
  graphBaseUrl: string;
}
