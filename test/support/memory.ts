/**
 * In-memory implementations of entra-sync's own interfaces (the tenant's Graph, the connector space, the platform
 * directory, checkpoints), for fast unit tests of use-case logic without the local stack. They follow the contracts
 * the SDK adapter and the table adapters keep (integration tests check those against the simulator and Azurite).
 */
import type { ConnectorRow } from "../../src/connector/space.js";
import { normalizeLookup, type ApplyResult, type LookupAttribute, type PlatformDirectory, type PlatformUpdate, type StoredPlatformUser } from "../../src/directory/directory.js";
import type { PlatformUser } from "../../src/directory/types.js";
import { EntraSyncError } from "../../src/errors.js";
import type { GraphCounters } from "../../src/graph/client.js";
import type {
  BatchRetryOptions,
  DeltaPage,
  GraphAnswer,
  PasswordCredentialInfo,
  PatchOptions,
  ProbeResult,
  TenantDomains,
  TenantGraph,
  UserPatch,
  UserQuery,
} from "../../src/graph/tenant-graph.js";
import type { DeltaEntry, GraphUser } from "../../src/graph/users.js";
import type { Checkpoint, CheckpointSlot } from "../../src/state/checkpoints.js";
import { DEFAULT_IMMUTABLE_ID, type Tenant } from "../../src/tenants/model.js";
import { DEFAULT_MAPPING } from "../../src/mapping/mapping.js";

export type MemUser = GraphUser & { birthday?: string | null };

const BATCH = 20;
const upnDomain = (upn: string | null | undefined) => (upn ?? "").slice((upn ?? "").lastIndexOf("@") + 1).toLowerCase();
const errorAnswer = (status: number, code: string, message: string, details?: string[]): GraphAnswer => ({ status, body: { error: { code, message, ...(details ? { details: details.map((c) => ({ code: c })) } : {}) } } });

/**
 * A tenant's Graph in memory: users, domains, delta rounds over a change log, `$batch`-style answers per request with
 * Entra's ImmutableId rules (a federated UPN refuses a new ImmutableId; a UPN moves into a federated domain only with
 * one; a value another user holds is an ObjectConflict). `answer` overrides Graph's answer to chosen requests.
 */
export class MemoryTenantGraph implements TenantGraph {
  readonly tenant = { tenantId: "11111111-1111-4111-8111-111111111111", clientId: "22222222-2222-4222-8222-222222222222", cloud: "global" as const };
  readonly counters: GraphCounters = { requests: 0, throttled: 0, retried: 0 };
  readonly users = new Map<string, MemUser>();
  federated = new Set<string>();
  initialDomain: string | undefined = "school.onmicrosoft.com";
  domainsDenied = false;
  credentials: PasswordCredentialInfo[] | "denied" = [];
  roles: string[] = ["User.ReadWrite.All", "Domain.Read.All"];
  /** Users per delta page. */
  pageSize = 2;
  /** Delta links older than this log position answer as expired. */
  expiredBefore = 0;
  /** Graph's answer to a request, instead of the simulated one (`kind` says which call; undefined: as simulated). */
  answer: (kind: "read" | "find" | "patch", key: string, patch?: UserPatch) => GraphAnswer | undefined = () => undefined;
  /** What was asked, in order. */
  readonly birthdayReads: string[] = [];
  readonly patches: UserPatch[] = [];
  readonly reads: string[] = [];
  private log: DeltaEntry[] = [];

  constructor(users: MemUser[] = []) {
    for (const u of users) this.users.set(u.id, { ...u });
  }

  /** Changes a user (or adds one) as an admin in Entra would: the next delta round sees it. */
  setUser(u: MemUser): void {
    const merged = { ...(this.users.get(u.id) ?? {}), ...u };
    this.users.set(u.id, merged);
    this.log.push({ ...merged });
  }

  removeUser(id: string, reason: "deleted" | "changed" = "deleted"): void {
    this.users.delete(id);
    this.log.push({ id, "@removed": { reason } });
  }

  /** Every delta link handed out so far expires (Graph keeps them about 7 days). */
  expireDeltaLinks(): void {
    this.expiredBefore = this.log.length + 1;
  }

  async deltaPage(link: string | undefined, select: readonly string[]): Promise<DeltaPage> {
    this.counters.requests++;
    const pick = (u: MemUser): DeltaEntry => {
      if (u["@removed" as keyof MemUser]) return u as DeltaEntry;
      const out: Record<string, unknown> = { id: u.id };
      for (const k of select) if (k in u) out[k] = (u as unknown as Record<string, unknown>)[k];
      return out as DeltaEntry;
    };
    const url = new URL(link ?? "https://graph.test/delta?start=0");
    const pos = Number(url.searchParams.get("pos") ?? this.log.length);
    const delta = url.searchParams.get("delta");
    if (delta !== null) {
      if (Number(delta) < this.expiredBefore) throw new EntraSyncError("GRAPH_DELTA_EXPIRED", `The delta token of tenant ${this.tenant.tenantId} has expired: a full resync starts.`, { retryable: true });
      const entries = this.log.slice(Number(delta)).map((e) => pick(e as MemUser));
      return { entries, deltaLink: `https://graph.test/delta?delta=${this.log.length}` };
    }
    const start = Number(url.searchParams.get("start"));
    const all = [...this.users.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const entries = all.slice(start, start + this.pageSize).map(pick);
    const end = start + this.pageSize >= all.length;
    return end ? { entries, deltaLink: `https://graph.test/delta?delta=${pos}` } : { entries, nextLink: `https://graph.test/delta?start=${start + this.pageSize}&pos=${pos}` };
  }

  async getUser(idOrUpn: string, select: readonly string[]): Promise<GraphUser | undefined> {
    this.counters.requests++;
    const key = idOrUpn.toLowerCase();
    const u = this.users.get(idOrUpn) ?? [...this.users.values()].find((x) => x.userPrincipalName?.toLowerCase() === key);
    if (!u) return undefined;
    return Object.fromEntries(Object.entries(u).filter(([k]) => k === "id" || select.includes(k))) as GraphUser;
  }

  async birthdays(ids: readonly string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    for (const id of ids) {
      this.counters.requests++;
      this.birthdayReads.push(id);
      const u = this.users.get(id);
      if (u) out.set(id, u.birthday ?? null);
    }
    return out;
  }

  async domains(): Promise<TenantDomains | "denied"> {
    this.counters.requests++;
    return this.domainsDenied ? "denied" : { federated: new Set(this.federated), initial: this.initialDomain };
  }

  async passwordCredentials(): Promise<PasswordCredentialInfo[] | "denied"> {
    this.counters.requests++;
    return this.credentials;
  }

  async readUsers(ids: readonly string[], _retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>> {
    this.counters.requests += Math.ceil(ids.length / BATCH);
    const out = new Map<string, GraphAnswer>();
    for (const id of ids) {
      this.reads.push(id);
      const u = this.users.get(id);
      const simulated: GraphAnswer = u
        ? { status: 200, body: { id, userPrincipalName: u.userPrincipalName ?? null, onPremisesImmutableId: u.onPremisesImmutableId ?? null, onPremisesSyncEnabled: u.onPremisesSyncEnabled ?? null } }
        : errorAnswer(404, "Request_ResourceNotFound", `Resource '${id}' does not exist.`);
      out.set(id, this.answer("read", id) ?? simulated);
    }
    return out;
  }

  async findUsers(queries: readonly UserQuery[], _retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>> {
    this.counters.requests += Math.ceil(queries.length / BATCH);
    const out = new Map<string, GraphAnswer>();
    for (const q of queries) {
      const value = [...this.users.values()].filter((u) => u[q.property] === q.value).map((u) => ({ id: u.id }));
      out.set(q.key, this.answer("find", q.key) ?? { status: 200, body: { value } });
    }
    return out;
  }

  async patchUsers(patches: readonly UserPatch[], o: PatchOptions, _retry?: BatchRetryOptions): Promise<Map<string, GraphAnswer>> {
    const out = new Map<string, GraphAnswer>();
    for (let i = 0; i < patches.length; i += BATCH) {
      const part = patches.slice(i, i + BATCH);
      await o.pacer.take(part.length);
      this.counters.requests++;
      for (const p of part) {
        this.patches.push(p);
        const injected = this.answer("patch", p.key, p);
        if (injected) {
          if (injected.status === 429) this.counters.throttled++;
          out.set(p.key, injected);
          continue;
        }
        out.set(p.key, this.applyPatch(p));
      }
    }
    return out;
  }

  /** Entra's rules for the two properties the writers change. */
  private applyPatch(p: UserPatch): GraphAnswer {
    const u = this.users.get(p.userId);
    if (!u) return errorAnswer(404, "Request_ResourceNotFound", `Resource '${p.userId}' does not exist.`);
    const { onPremisesImmutableId: value, userPrincipalName: upn } = p.changes;
    if (value !== undefined && [...this.users.values()].some((o) => o.id !== u.id && o.onPremisesImmutableId === value))
      return errorAnswer(400, "Request_BadRequest", "Another object with the same value for property onPremisesImmutableId already exists.", ["ObjectConflict"]);
    if (value !== undefined && upn === undefined && this.federated.has(upnDomain(u.userPrincipalName))) return errorAnswer(400, "Request_BadRequest", "The operation is not allowed for a user in a federated domain.");
    const finalValue = value ?? u.onPremisesImmutableId;
    if (upn !== undefined && this.federated.has(upnDomain(upn)) && !finalValue) return errorAnswer(400, "Request_BadRequest", "Property userPrincipalName in a federated domain needs onPremisesImmutableId.");
    this.setUser({ ...u, ...(value !== undefined ? { onPremisesImmutableId: value } : {}), ...(upn !== undefined ? { userPrincipalName: upn } : {}) });
    return { status: 204 };
  }

  async grantedRoles(): Promise<string[]> {
    return this.roles;
  }

  async probe(): Promise<ProbeResult> {
    return { ok: true };
  }
}

/** The connector space in memory (one map per tenant). */
export class MemoryConnectorSpace {
  readonly rows = new Map<string, Map<string, ConnectorRow>>();
  private of(tenantId: string): Map<string, ConnectorRow> {
    let m = this.rows.get(tenantId);
    if (!m) this.rows.set(tenantId, (m = new Map()));
    return m;
  }
  async get(tenantId: string, id: string): Promise<ConnectorRow | undefined> {
    const r = this.of(tenantId).get(id);
    return r && structuredClone(r);
  }
  async getMany(tenantId: string, ids: readonly string[]): Promise<Map<string, ConnectorRow>> {
    const out = new Map<string, ConnectorRow>();
    for (const id of ids) {
      const r = this.of(tenantId).get(id);
      if (r) out.set(id, structuredClone(r));
    }
    return out;
  }
  async putMany(tenantId: string, rows: readonly ConnectorRow[]): Promise<void> {
    for (const r of rows) this.of(tenantId).set(r.id, structuredClone(r));
  }
  async *list(tenantId: string): AsyncIterable<ConnectorRow> {
    for (const r of [...this.of(tenantId).values()]) yield structuredClone(r);
  }
  async isEmpty(tenantId: string): Promise<boolean> {
    return this.of(tenantId).size === 0;
  }
  /** Tenants whose Immutable ID candidate state was marked out of date (the in-memory space keeps none). */
  readonly invalidated = new Set<string>();
  async invalidateCandidates(tenantId: string): Promise<void> {
    this.invalidated.add(tenantId);
  }
}

/** The platform directory in memory: ETags as counters, lookups as the table adapter compares them. */
export class MemoryDirectory implements PlatformDirectory {
  readonly users = new Map<string, StoredPlatformUser>();
  writeRoundTrips = 0;
  /** Updates of these users fail (as a conflicting write would). */
  failing = new Set<string>();
  private version = 0;

  constructor(users: PlatformUser[] = []) {
    for (const u of users) this.users.set(u.id, { ...u, etag: `e${++this.version}` });
  }
  async get(_tenantId: string, id: string): Promise<StoredPlatformUser | undefined> {
    const u = this.users.get(id);
    return u && { ...u };
  }
  async findBy(_tenantId: string, attribute: LookupAttribute, values: readonly string[]): Promise<Map<string, StoredPlatformUser[]>> {
    const out = new Map<string, StoredPlatformUser[]>();
    for (const v of values) out.set(v, [...this.users.values()].filter((u) => typeof u[attribute] === "string" && normalizeLookup(attribute, u[attribute]!) === normalizeLookup(attribute, v)).map((u) => ({ ...u })));
    return out;
  }
  async applyUpdates(_tenantId: string, updates: readonly PlatformUpdate[]): Promise<ApplyResult> {
    this.writeRoundTrips++;
    const result: ApplyResult = { updated: [], failed: [] };
    for (const { user, changes } of updates) {
      if (this.failing.has(user.id)) {
        result.failed.push({ id: user.id, message: `user ${user.id} changed meanwhile` });
        continue;
      }
      const cur = this.users.get(user.id);
      if (!cur) continue;
      const next: Record<string, unknown> = { ...cur };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null || v === undefined) delete next[k];
        else next[k] = v;
      }
      this.users.set(user.id, { ...(next as unknown as StoredPlatformUser), etag: `e${++this.version}` });
      result.updated.push(user.id);
    }
    return result;
  }
  async importUsers(_tenantId: string, users: readonly PlatformUser[]): Promise<{ created: number; replaced: number }> {
    let created = 0;
    for (const u of users) {
      if (!this.users.has(u.id)) created++;
      this.users.set(u.id, { ...u, etag: `e${++this.version}` });
    }
    return { created, replaced: users.length - created };
  }
  async *list(_tenantId: string): AsyncIterable<StoredPlatformUser> {
    for (const u of [...this.users.values()]) yield { ...u };
  }
  async create(_tenantId: string, user: PlatformUser): Promise<StoredPlatformUser> {
    if (this.users.has(user.id)) throw new EntraSyncError("DIRECTORY_DUPLICATE", `A user with id ${user.id} already exists.`, { field: "id", retryable: false });
    const taken = user.userName && [...this.users.values()].some((u) => u.userName && normalizeLookup("userName", u.userName) === normalizeLookup("userName", user.userName!));
    if (taken) throw new EntraSyncError("DIRECTORY_DUPLICATE", `Another user of the tenant already has the userName "${user.userName}".`, { field: "userName", retryable: false });
    const held = user.uniqueExternalId && user.externalId && [...this.users.values()].some((u) => u.uniqueExternalId && u.externalId === user.externalId);
    if (held) throw new EntraSyncError("DIRECTORY_DUPLICATE", `Another user of the tenant already has the externalId "${user.externalId}".`, { field: "externalId", retryable: false });
    const stored = { ...user, etag: `e${++this.version}` };
    this.users.set(user.id, stored);
    return { ...stored };
  }
  async replace(_tenantId: string, current: StoredPlatformUser, after: PlatformUser): Promise<StoredPlatformUser> {
    if (this.users.get(current.id)?.etag !== current.etag) throw new EntraSyncError("STORAGE_CONFLICT", `Platform user ${current.id} changed (or was removed) since it was read; read it again.`);
    const stored = { ...after, id: current.id, etag: `e${++this.version}` };
    this.users.set(current.id, stored);
    return { ...stored };
  }
  async erase(_tenantId: string, current: StoredPlatformUser): Promise<void> {
    if (this.users.get(current.id)?.etag !== current.etag) throw new EntraSyncError("STORAGE_CONFLICT", `Platform user ${current.id} changed (or was removed) since it was read; read it again.`);
    this.users.delete(current.id);
  }
}

/** Checkpoints in memory, per tenant and slot. */
export class MemoryCheckpoints {
  readonly saved = new Map<string, Checkpoint>();
  async get(tenantId: string, slot: CheckpointSlot = "main"): Promise<Checkpoint | undefined> {
    return this.saved.get(`${tenantId}/${slot}`);
  }
  async save(tenantId: string, c: Checkpoint, slot: CheckpointSlot = "main"): Promise<void> {
    this.saved.set(`${tenantId}/${slot}`, { ...c });
  }
  async clear(tenantId: string, slot: CheckpointSlot = "main"): Promise<void> {
    this.saved.delete(`${tenantId}/${slot}`);
  }
}

/** A registration for unit tests (the in-memory graph's tenant). */
export function memoryTenant(o: Partial<Tenant> = {}): Tenant {
  return {
    tenantId: "11111111-1111-4111-8111-111111111111",
    clientId: "22222222-2222-4222-8222-222222222222",
    displayName: "Memory school",
    cloud: "global",
    enabled: true,
    mapping: { ...DEFAULT_MAPPING },
    linking: null,
    adminEmails: [],
    locale: "en",
    immutableId: { ...DEFAULT_IMMUTABLE_ID },
    syncIntervalMinutes: 60,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...o,
  };
}
