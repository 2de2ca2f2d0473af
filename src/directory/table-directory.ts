import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { mapLimit, yieldToIo } from "../util/concurrency.js";
import { encodeKey, getOrUndefined, isNotFound, storageError, TABLE_LIMITS } from "../state/tables-client.js";
import { normalizeLookup, type ApplyResult, type IndexRepair, type LookupAttribute, type PlatformDirectory, type PlatformUpdate, type StoredPlatformUser } from "./directory.js";
import type { PlatformUser } from "./types.js";
import { diffForAudit, MASKED, toAuditEntity, type AuditContext } from "../audit/entry.js";
import { TableAuditLog } from "../audit/store.js";

const LOOKUPS: LookupAttribute[] = ["externalId", "userName", "email"];
const norm = normalizeLookup;

// Index entries live in the tenant's own partition, beside its users, under RowKeys that start with "!": a user id
// may not start with "!" (nor a space), so every user RowKey is >= '"' and every index RowKey is in ["!", '"').
// Audit entries (src/audit/entry.ts) ride in the same transactions under RowKeys that start with " audit|", below both.
const INDEX_FIRST = "!";
const USERS_FIRST = '"';
/** `!attr|encoded value|user id`: the encoded value never holds "|" (encodeKey escapes it), so the first two split. */
const entryKey = (attr: LookupAttribute, value: string, id: string) => `${INDEX_FIRST}${attr}|${encodeKey(norm(attr, value))}|${id}`;
const valuePrefix = (attr: LookupAttribute, value: string) => `${INDEX_FIRST}${attr}|${encodeKey(norm(attr, value))}|`;
/**
 * The claims of a user held unique (users created through SCIM): its userName (with `uniqueUserName`, ignoring case)
 * and its externalId (with `uniqueExternalId`, exactly). One row per value (not per user), made with a "create" in
 * the same transaction as the user, so a second user with the same value fails as a whole. Holds its user's id.
 */
const CLAIM_PREFIX = `${INDEX_FIRST}unique|`;
type ClaimAttribute = "userName" | "externalId";
const claimKey = (attr: ClaimAttribute, value: string) => `${CLAIM_PREFIX}${attr}|${encodeKey(norm(attr, value))}`;
const claimAttributeOf = (rowKey: string): ClaimAttribute => (rowKey.startsWith(`${CLAIM_PREFIX}externalId|`) ? "externalId" : "userName");
/** The claim keys a user holds. */
function claimsOf(u: Partial<PlatformUser> | undefined): string[] {
  const out: string[] = [];
  if (u?.uniqueUserName && typeof u.userName === "string" && u.userName) out.push(claimKey("userName", u.userName));
  if (u?.uniqueExternalId && typeof u.externalId === "string" && u.externalId) out.push(claimKey("externalId", u.externalId));
  return out;
}
/** The first string after every key that starts with `prefix` (which ends in "|"). */
const prefixEnd = (prefix: string) => `${prefix.slice(0, -1)}}`;
/** A 53-bit hash of an index RowKey (two 32-bit FNV-1a variants): the repair keeps numbers, not keys. */
function keyHash(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0) * 2 ** 21 + ((b >>> 0) & 0x1fffff);
}
/**
 * The index repair's entries as 53-bit hashes: appended to a Float64Array, sorted once, then taken by the users that
 * need them (a byte each). What is left untaken had no user. 9 bytes per entry, where a Set of numbers costs ~40.
 */
class EntryHashes {
  private hashes = new Float64Array(4096);
  private taken = new Uint8Array(0);
  private n = 0;
  private sealed = false;
  /** Hashes not taken (valid once sealed). */
  left = 0;

  add(h: number): void {
    if (this.n === this.hashes.length) {
      const grown = new Float64Array(this.n * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.n++] = h;
  }

  /** No more adds: sorts the hashes. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    this.hashes = this.hashes.slice(0, this.n).sort();
    this.taken = new Uint8Array(this.n);
    this.left = this.n;
  }

  private find(h: number): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.hashes[mid]!;
      if (v === h) {
        // Equal hashes (the same entry listed twice cannot happen; a collision can): the first one not taken.
        let i = mid;
        while (i > 0 && this.hashes[i - 1] === h) i--;
        while (i < this.n && this.hashes[i] === h && this.taken[i]) i++;
        return i < this.n && this.hashes[i] === h ? i : -1;
      }
      if (v < h) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Takes one entry of this hash; false if there is none left. */
  take(h: number): boolean {
    const i = this.find(h);
    if (i < 0) return false;
    this.taken[i] = 1;
    this.left--;
    return true;
  }

  /** Whether an entry of this hash was left untaken. */
  isLeft(h: number): boolean {
    return this.find(h) >= 0;
  }
}

const idOfEntry = (rowKey: string): string | undefined => {
  const m = /^!(?:externalId|userName|email)\|[^|]*\|(.+)$/s.exec(rowKey);
  return m?.[1];
};

type UserEntity = Omit<PlatformUser, "id" | "tenantId"> & { partitionKey: string; rowKey: string; etag?: string };

function toEntity(u: PlatformUser): UserEntity {
  const e: Record<string, unknown> = { partitionKey: u.tenantId, rowKey: u.id };
  const r = u as unknown as Record<string, unknown>;
  for (const k in r) {
    const v = r[k];
    if (v !== undefined && v !== null && v !== "" && k !== "etag" && k !== "id" && k !== "tenantId") e[k] = v;
  }
  return e as UserEntity;
}

function fromEntity(e: Record<string, unknown>): StoredPlatformUser {
  const u: Record<string, unknown> = { id: e.rowKey, tenantId: e.partitionKey, etag: e.etag };
  for (const k in e) {
    if (k === "partitionKey" || k === "rowKey" || k === "etag" || k === "timestamp" || k.startsWith("odata")) continue;
    u[k] = e[k];
  }
  return u as unknown as StoredPlatformUser;
}

/**
 * What the index repair reads of each row (`$select`) when it hands no user on: the RowKey, the values that make a
 * user's index keys and claims, and a claim's holder. Table Storage answers a property a row lacks with null, Azurite
 * leaves it out: both are "none" here. The ETag comes with every row either way.
 */
const REPAIR_FIELDS = ["RowKey", ...LOOKUPS, "uniqueUserName", "uniqueExternalId", "userId"];

/** A user row read with REPAIR_FIELDS, as far as keys and claims go. */
function keyFields(e: Record<string, unknown>): Partial<PlatformUser> & { id: string } {
  const u: Partial<PlatformUser> & { id: string } = { id: e.rowKey as string };
  for (const attr of LOOKUPS) if (typeof e[attr] === "string") u[attr] = e[attr];
  if (e.uniqueUserName) u.uniqueUserName = e.uniqueUserName as boolean;
  if (e.uniqueExternalId) u.uniqueExternalId = e.uniqueExternalId as boolean;
  return u;
}

/** The index keys a user needs: one per lookup attribute that has a value (at most three, so an array). */
function keysOf(u: Partial<PlatformUser> & { id: string }): string[] {
  const out: string[] = [];
  for (const attr of LOOKUPS) {
    const v = u[attr];
    if (typeof v === "string" && v) out.push(entryKey(attr, v, u.id));
  }
  return out;
}

/**
 * Why a user cannot be stored, or undefined. Checked for every user before anything is written: Azurite accepts some
 * of what Table Storage refuses, and a refusal halfway through would leave part of a batch written.
 */
export function invalidUserField(u: PlatformUser): { field: string; problem: string } | undefined {
  if (!u.id || u.id.startsWith(INDEX_FIRST) || u.id.startsWith(" ")) return { field: "id", problem: `must not be empty or start with "${INDEX_FIRST}" or a space` };
  if (/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(u.id)) return { field: "id", problem: "must not contain / \\ # ? or control characters" };
  if (u.id.length > TABLE_LIMITS.keyChars) return { field: "id", problem: `is ${u.id.length} characters; at most ${TABLE_LIMITS.keyChars} fit a Table Storage key` };
  for (const attr of LOOKUPS) {
    const v = u[attr];
    if (typeof v !== "string" || !v) continue;
    const key = entryKey(attr, v, u.id);
    if (key.length > TABLE_LIMITS.keyChars)
      return { field: attr, problem: `is too long for the lookup index: its key (value URL-encoded, plus the user id) is ${key.length} characters, Table Storage allows ${TABLE_LIMITS.keyChars} (1 KiB); shorten the value or the id` };
  }
  for (const claim of claimsOf(u))
    if (claim.length > TABLE_LIMITS.keyChars) return { field: claimAttributeOf(claim), problem: `is too long to be held unique: its key is ${claim.length} characters, Table Storage allows ${TABLE_LIMITS.keyChars}` };
  const r = u as unknown as Record<string, unknown>;
  for (const k in r) {
    const v = r[k];
    if (typeof v === "string" && v.length > TABLE_LIMITS.stringChars) return { field: k, problem: `is ${v.length} characters; Table Storage stores at most ${TABLE_LIMITS.stringChars} (64 KiB)` };
  }
  return undefined;
}

/** One user's write and its index edits: they go into the same entity-group transaction, so they happen together. */
interface Group {
  id: string;
  actions: TransactionAction[];
  bytes: number;
}

/**
 * A write to prepare against a user as currently stored (undefined: the user does not exist): the user to store,
 * index entries to remove besides those of changed values (repair), an error, or nothing to do.
 */
type Plan = (current: StoredPlatformUser | undefined) => { after: PlatformUser; create: boolean; remove?: readonly string[] } | { error: EntraSyncError } | { skip: true };

/**
 * The default platform directory adapter: one table, one partition per tenant holding its users and their lookup
 * index entries (one entry per user and lookup value, RowKey `!attr|value|id`).
 *
 * Why entries beside the users: Table Storage makes a transaction atomic only within one partition, so a user's row
 * and the index entries it needs (added and removed) are written in one transaction — there is no moment, and so no
 * crash, at which a user is stored without its entries or an entry outlives its value. One entry per user and value
 * (instead of one list per value) keeps every entry a few hundred bytes whatever number of users share a value, and
 * makes each edit a blind upsert or delete: no entry is read before it is written. Lookups read the entries of a
 * value with one range query in the partition, then the users. `repairIndex` finds and fixes entries that disagree
 * with their users anyway (rows written by hand or by an older layout); full runs call it.
 */
export class TablePlatformDirectory implements PlatformDirectory {
  writeRoundTrips = 0;
  private readonly sensitive: readonly string[];
  private readonly clock: () => Date;
  private readonly sensitiveFor: ((tenantId: string) => Promise<readonly string[]>) | undefined;
  private readonly tenantSensitive = new Map<string, { at: number; list: readonly string[] }>();
  /** The masked attributes of an audit context, as a set (built once per write, not per user). */
  private readonly sensitiveSets = new WeakMap<AuditContext, ReadonlySet<string>>();
  /**
   * `onPlatformEdit`: told the externalIds (Entra object ids) of users written from the platform's side — `create`,
   * `replace`, `importUsers`, before and after — once they are stored, so that what depends on them (Immutable ID
   * sync's candidate state) is brought up to date; its failure fails the write's call. Update sync's own
   * `applyUpdates` does not call it: update sync marks the rows it writes itself.
   * `sensitive`: attributes whose values the audit log masks for every tenant (AUDIT_SENSITIVE_ATTRIBUTES);
   * `sensitiveFor`: a tenant's own (its registration), asked at most once a minute per tenant; a write's audit context
   * may add more.
   */
  constructor(
    private readonly table: TableClient,
    private readonly o: {
      onPlatformEdit?: (tenantId: string, externalIds: string[]) => Promise<void>;
      sensitive?: readonly string[];
      sensitiveFor?: (tenantId: string) => Promise<readonly string[]>;
      clock?: () => Date;
    } = {},
  ) {
    this.sensitive = o.sensitive ?? [];
    this.sensitiveFor = o.sensitiveFor;
    this.clock = o.clock ?? (() => new Date());
  }

  /** The audit context with the tenant's own sensitive attributes added (none without `sensitiveFor`). */
  private async withTenantSensitive(tenantId: string, audit: AuditContext | undefined): Promise<AuditContext | undefined> {
    if (!audit || !this.sensitiveFor) return audit;
    const now = Date.now();
    let cached = this.tenantSensitive.get(tenantId);
    if (!cached || now - cached.at > 60_000) {
      cached = { at: now, list: await this.sensitiveFor(tenantId) };
      this.tenantSensitive.set(tenantId, cached);
    }
    return cached.list.length ? { ...audit, sensitive: [...(audit.sensitive ?? []), ...cached.list] } : audit;
  }

  private async platformEdited(tenantId: string, users: ReadonlyArray<Partial<PlatformUser> | undefined>): Promise<void> {
    if (!this.o.onPlatformEdit) return;
    const ids = [...new Set(users.map((u) => u?.externalId).filter((x): x is string => typeof x === "string" && x !== ""))];
    if (ids.length) await this.o.onPlatformEdit(tenantId, ids);
  }

  /** The audit entry of a write, as a transaction action, or nothing when no audited attribute changes. */
  private auditAction(tenantId: string, audit: AuditContext | undefined, before: StoredPlatformUser | undefined, after: PlatformUser): TransactionAction | undefined {
    if (!audit) return undefined;
    let sensitive = this.sensitiveSets.get(audit);
    if (!sensitive) this.sensitiveSets.set(audit, (sensitive = new Set([...this.sensitive, ...(audit.sensitive ?? [])])));
    const changes = diffForAudit(before, after, sensitive);
    if (changes.length === 0) return undefined;
    return ["upsert", toAuditEntity({ at: this.clock().toISOString(), tenantId, runId: audit.runId, source: audit.source, target: "platform", userId: after.id, entraId: after.externalId, changes, outcome: "applied" }), "Replace"];
  }

  /** Failed writes are audited too (one transaction per 100, only when some failed): what was asked, and why not. */
  private async auditFailures(tenantId: string, audit: AuditContext | undefined, failed: ReadonlyArray<{ before: StoredPlatformUser | undefined; after: PlatformUser; reason: string }>): Promise<void> {
    if (!audit || failed.length === 0) return;
    const sensitive = new Set([...this.sensitive, ...(audit.sensitive ?? [])]);
    const at = this.clock().toISOString();
    const entries = failed.map((f) => ({ at, tenantId, runId: audit.runId, source: audit.source, target: "platform" as const, userId: f.after.id, entraId: f.before?.externalId ?? f.after.externalId, changes: diffForAudit(f.before, f.after, sensitive), outcome: "failed" as const, reason: f.reason }));
    this.writeRoundTrips += Math.ceil(entries.length / 100);
    await new TableAuditLog(this.table).record(tenantId, entries);
  }

  async get(tenantId: string, id: string): Promise<StoredPlatformUser | undefined> {
    if (id.startsWith(INDEX_FIRST)) return undefined;
    const e = await getOrUndefined<Record<string, unknown>>(this.table, tenantId, id);
    return e ? fromEntity(e) : undefined;
  }

  async findBy(tenantId: string, attribute: LookupAttribute, values: readonly string[]): Promise<Map<string, StoredPlatformUser[]>> {
    const unique = [...new Set(values)];
    const idLists = await mapLimit(unique, 32, async (v) => {
      const prefix = valuePrefix(attribute, v);
      const ids: string[] = [];
      try {
        const rows = this.table.listEntities<object>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${prefix} and RowKey lt ${prefixEnd(prefix)}`, select: ["RowKey"] } });
        for await (const r of rows) ids.push((r.rowKey as string).slice(prefix.length));
      } catch (e) {
        throw storageError(e, `look up platform users of tenant ${tenantId} by ${attribute}`);
      }
      return ids;
    });
    const allIds = [...new Set(idLists.flat())];
    const fetched = await mapLimit(allIds, 32, (id) => this.get(tenantId, id));
    const byId = new Map(fetched.filter((u): u is StoredPlatformUser => !!u).map((u) => [u.id, u]));
    const out = new Map<string, StoredPlatformUser[]>();
    unique.forEach((v, i) => {
      // The value is checked again on the user itself: the user is the truth, an entry only says where to look.
      const users = (idLists[i] ?? []).map((id) => byId.get(id)).filter((u): u is StoredPlatformUser => {
        const cur = u?.[attribute];
        return !!u && typeof cur === "string" && norm(attribute, cur) === norm(attribute, v);
      });
      out.set(v, users);
    });
    return out;
  }

  async applyUpdates(tenantId: string, updates: readonly PlatformUpdate[], auditAsked?: AuditContext): Promise<ApplyResult> {
    const audit = await this.withTenantSensitive(tenantId, auditAsked);
    const result: ApplyResult = { updated: [], failed: [] };
    const items = updates.map((u) => ({
      id: u.user.id,
      current: u.user as StoredPlatformUser | undefined,
      plan: ((current) => {
        if (!current) return { error: new EntraSyncError("STORAGE_CONFLICT", `Platform user ${u.user.id} no longer exists; it was not recreated.`, { retryable: false }) };
        const after = applyChanges(current, u.changes);
        const bad = invalidUserField(after);
        if (bad) return { error: new EntraSyncError("INPUT_INVALID", `Platform user ${u.user.id}: ${bad.field} ${bad.problem}. The user was not updated.`, { field: bad.field, retryable: false }) };
        return { after, create: false };
      }) as Plan,
    }));
    const outcome = await this.write(tenantId, items, { audit });
    const failures: Array<{ before: StoredPlatformUser | undefined; after: PlatformUser; reason: string }> = [];
    updates.forEach((u, i) => {
      const it = items[i]!;
      const err = outcome.failed.get(it.id);
      if (err) {
        result.failed.push({ id: it.id, message: err.message });
        failures.push({ before: u.user, after: applyChanges(u.user, u.changes), reason: `${err.code}: ${err.message}` });
      } else result.updated.push(it.id);
    });
    await this.auditFailures(tenantId, audit, failures);
    return result;
  }

  async importUsers(tenantId: string, users: readonly PlatformUser[]): Promise<{ created: number; replaced: number }> {
    const list = users.map((u) => ({ ...u, tenantId }));
    // Every user is checked before the first write: one that cannot be stored rejects the whole import.
    const seen = new Set<string>();
    list.forEach((u, i) => {
      const bad = invalidUserField(u);
      if (bad) throw new EntraSyncError("INPUT_INVALID", `User ${i + 1} (id "${u.id.slice(0, 80)}"): ${bad.field} ${bad.problem}. Nothing was imported.`, { field: bad.field });
      if (seen.has(u.id)) throw new EntraSyncError("INPUT_INVALID", `User ${i + 1}: id "${u.id.slice(0, 80)}" appears twice. Nothing was imported.`, { field: "id" });
      seen.add(u.id);
    });
    // Existing users are read first: their ETags guard the replacement, their values say which entries to remove.
    const before = new Map<string, StoredPlatformUser>();
    if (list.length > 200) {
      const wanted = new Set(list.map((u) => u.id));
      for await (const e of this.list(tenantId)) if (wanted.has(e.id)) before.set(e.id, e);
    } else {
      const existing = await mapLimit(list, 32, (u) => this.get(tenantId, u.id));
      for (const e of existing) if (e) before.set(e.id, e);
    }
    const items = list.map((u) => ({ id: u.id, current: before.get(u.id), plan: ((current) => ({ after: u, create: !current })) as Plan }));
    const outcome = await this.write(tenantId, items);
    await this.platformEdited(tenantId, [...before.values(), ...list.filter((u) => !outcome.failed.has(u.id))]);
    const first = outcome.failed.values().next();
    if (!first.done) throw first.value;
    return { created: outcome.created, replaced: list.length - outcome.created };
  }

  async *list(tenantId: string): AsyncIterable<StoredPlatformUser> {
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${USERS_FIRST}` } }))
      yield fromEntity(e as Record<string, unknown>);
  }

  async create(tenantId: string, user: PlatformUser, auditAsked?: AuditContext): Promise<StoredPlatformUser> {
    const audit = await this.withTenantSensitive(tenantId, auditAsked);
    const u = { ...user, tenantId };
    const bad = invalidUserField(u);
    if (bad) throw new EntraSyncError("INPUT_INVALID", `${bad.field} ${bad.problem}.`, { field: bad.field, retryable: false });
    const g = this.group(tenantId, undefined, () => ({ after: u, create: true }), false, audit);
    if ("error" in g) throw g.error;
    const stored = await this.submitOne(tenantId, u, g.group.actions, undefined);
    await this.platformEdited(tenantId, [stored]);
    return stored;
  }

  async replace(tenantId: string, current: StoredPlatformUser, after: PlatformUser, auditAsked?: AuditContext): Promise<StoredPlatformUser> {
    const audit = await this.withTenantSensitive(tenantId, auditAsked);
    const u = { ...stripEtag(after as StoredPlatformUser), id: current.id, tenantId };
    const bad = invalidUserField(u);
    if (bad) throw new EntraSyncError("INPUT_INVALID", `${bad.field} ${bad.problem}.`, { field: bad.field, retryable: false });
    const g = this.group(tenantId, current, () => ({ after: u, create: false }), false, audit);
    if ("error" in g) throw g.error;
    const stored = await this.submitOne(tenantId, u, g.group.actions, current);
    await this.platformEdited(tenantId, [current, stored]);
    return stored;
  }

  async erase(tenantId: string, current: StoredPlatformUser, audit?: AuditContext): Promise<void> {
    // The user, its index entries and its claims go in one transaction: nothing is left that finds, names or reserves
    // it. A transaction's delete cannot carry an ETag, so the user is read again just before: a write that still
    // lands in between can leave an entry of its new values behind, which lookups ignore (they check the user) and a
    // claim of which the next claimant takes over (see submitOne). An entry already missing (drift) would fail the
    // whole transaction, so after a refusal the rows still there are read and the erase is tried once more.
    // The audit entry goes in the same transaction and names the attributes erased, never their values: an erase
    // keeps no copy of the user.
    const erased = audit ? diffForAudit(current, { id: current.id }, new Set()).map((c) => ({ ...c, old: c.old === null ? null : MASKED })) : [];
    const auditRow: TransactionAction[] = audit ? [["upsert", toAuditEntity({ at: this.clock().toISOString(), tenantId, runId: audit.runId, source: audit.source, target: "platform", userId: current.id, entraId: current.externalId, changes: erased, outcome: "applied" }), "Replace"]] : [];
    const keys = [...keysOf(current), ...claimsOf(current)];
    let rows = keys;
    for (let attempt = 0; ; attempt++) {
      const now = await this.get(tenantId, current.id);
      if (!now || now.etag !== current.etag) throw new EntraSyncError("STORAGE_CONFLICT", `Platform user ${current.id} changed (or was removed) since it was read; read it again.`);
      try {
        this.writeRoundTrips++;
        await this.table.submitTransaction([["delete", { partitionKey: tenantId, rowKey: current.id }], ...rows.map((rowKey): TransactionAction => ["delete", { partitionKey: tenantId, rowKey }]), ...auditRow]);
        await this.platformEdited(tenantId, [current]);
        return;
      } catch (e) {
        if (attempt >= 1) throw storageError(e, `erase platform user ${current.id}`);
        const present = await mapLimit(keys, 16, (rowKey) => getOrUndefined(this.table, tenantId, rowKey));
        rows = keys.filter((_, i) => present[i]);
      }
    }
  }

  /** One user's transaction; a refusal is explained: the userName claimed by another user, the id taken, or a newer ETag. */
  private async submitOne(tenantId: string, u: PlatformUser, actions: TransactionAction[], current: StoredPlatformUser | undefined): Promise<StoredPlatformUser> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.writeRoundTrips++;
        const r = await this.table.submitTransaction(actions);
        const etag = r.getResponseForEntity(u.id)?.etag;
        if (etag) return { ...u, etag };
        break;
      } catch (e) {
        const had = new Set(claimsOf(current));
        let staleTaken = false;
        for (const claim of claimsOf(u).filter((c) => !had.has(c))) {
          const holder = await getOrUndefined<{ userId?: string; etag?: string }>(this.table, tenantId, claim);
          if (!holder || holder.userId === u.id) continue;
          const attr = claimAttributeOf(claim);
          const holderUser = typeof holder.userId === "string" ? await this.get(tenantId, holder.userId) : undefined;
          if ((holderUser && claimsOf(holderUser).includes(claim)) || attempt >= 1)
            throw new EntraSyncError("DIRECTORY_DUPLICATE", `Another user of the tenant already has the ${attr} "${u[attr]}".`, { field: attr, retryable: false, cause: e });
          // A claim whose user no longer holds the value (left by a write racing an erase): removed if unchanged since read.
          await this.deleteUnchanged(tenantId, [{ rowKey: claim, etag: holder.etag ?? "*" }]);
          staleTaken = true;
        }
        if (staleTaken) continue;
        const now = await this.get(tenantId, u.id);
        if (!current && now) throw new EntraSyncError("DIRECTORY_DUPLICATE", `A user with id ${u.id} already exists.`, { field: "id", retryable: false, cause: e });
        if (current && (!now || now.etag !== current.etag)) throw new EntraSyncError("STORAGE_CONFLICT", `Platform user ${u.id} changed (or was removed) since it was read; read it again.`, { cause: e });
        throw storageError(e, `write platform user ${u.id}`);
      }
    }
    const stored = await this.get(tenantId, u.id);
    if (!stored) throw new EntraSyncError("STORAGE_FAILED", `Platform user ${u.id} was written but cannot be read back.`);
    return stored;
  }

  /**
   * Compares the tenant's index entries with its users and makes them agree: adds missing entries, removes entries
   * whose user no longer has the value (or no longer exists). Each fix is one transaction guarded by the user's ETag
   * (an orphan entry: by its own), so a write made meanwhile is never undone. `dryRun` only counts.
   */
  async repairIndex(tenantId: string, o: { dryRun?: boolean; onUser?: (u: StoredPlatformUser) => void } = {}): Promise<IndexRepair> {
    // Pass 1, one read of the partition in key order: entries ("!…") come before users. Each entry is kept as a 53-bit
    // hash of its RowKey in a typed array (8 bytes, no object), sorted once the users begin; each user marks the
    // hashes of the entries it needs (binary search) and names the ones it lacks. Users lacking entries are fixed a
    // chunk at a time, so nothing here grows with the tenant but 9 bytes per entry. A user created after its entry
    // was read is seen, so its entry is not taken for an orphan.
    const present = new EntryHashes();
    const users = new Set<string>();
    let count = 0;
    // Users lacking entries: whole when the pass read them whole, else their ids.
    let lacking: Array<StoredPlatformUser | string> = [];
    // With `onUser` every user is read whole (it is handed on, e.g. to the round's snapshot); without, the pass reads
    // only what makes keys and claims.
    const whole = o.onUser !== undefined;
    // userName claims (SCIM users): kept while their user holds that userName with uniqueUserName; a missing one is
    // made again by the user's rewrite; the others are deleted. Few rows, so they are kept whole.
    const claims = new Map<string, { rowKey: string; etag: string; userId: unknown }>();
    const keptClaims = new Set<string>();
    const fixLacking = async () => {
      if (o.dryRun || lacking.length === 0) return;
      const batch = lacking;
      lacking = [];
      // A user the pass read only for its keys and claims is read whole for its rewrite (gone meanwhile: nothing to do).
      const current = await mapLimit(batch, 32, (u) => (typeof u === "string" ? this.get(tenantId, u) : Promise.resolve(u)));
      await this.rewrite(tenantId, current.filter((u): u is StoredPlatformUser => !!u).map((u) => ({ id: u.id, current: u, remove: [] })));
    };
    try {
      // From "!": the audit entries below it are no business of the index.
      const filter = odata`PartitionKey eq ${tenantId} and RowKey ge ${INDEX_FIRST}`;
      for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: whole ? { filter } : { filter, select: REPAIR_FIELDS } })) {
        const rk = e.rowKey as string;
        if (rk.startsWith(CLAIM_PREFIX)) {
          claims.set(rk, { rowKey: rk, etag: e.etag as string, userId: e.userId });
          continue;
        }
        if (rk < USERS_FIRST) {
          present.add(keyHash(rk));
          continue;
        }
        present.seal();
        const stored = whole ? fromEntity(e as Record<string, unknown>) : undefined;
        if (stored) o.onUser?.(stored);
        const user = stored ?? keyFields(e);
        let missing = false;
        for (const k of keysOf(user)) {
          if (!present.take(keyHash(k))) {
            missing = true;
            count++;
          }
        }
        for (const claim of claimsOf(user)) {
          if (claims.get(claim)?.userId === user.id) keptClaims.add(claim);
          else if (!claims.has(claim)) {
            missing = true;
            count++;
          }
        }
        if (missing) {
          users.add(user.id);
          lacking.push(stored ?? user.id);
          if (lacking.length >= 100) await fixLacking();
        }
      }
      await fixLacking();
    } catch (e) {
      if (e instanceof EntraSyncError) throw e;
      throw storageError(e, `read the platform directory of tenant ${tenantId}`);
    }
    const staleClaims = [...claims.values()].filter((c) => !keptClaims.has(c.rowKey));
    for (const c of staleClaims) {
      count++;
      users.add(typeof c.userId === "string" ? c.userId : c.rowKey);
    }
    if (!o.dryRun) await this.deleteUnchanged(tenantId, staleClaims);
    present.seal();
    if (present.left === 0) return { entries: count, users: [...users] };

    // Pass 2, only when some entries were left over (no user needed them): read the index again for those entries.
    // An entry whose user exists goes in a rewrite of that user (guarded by its ETag); one whose user does not is
    // deleted if unchanged since read (a user created with that entry meanwhile rewrote it).
    const stale = new Map<string, Array<{ rowKey: string; etag: string }>>();
    const orphans: Array<{ rowKey: string; etag: string }> = [];
    try {
      for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${INDEX_FIRST} and RowKey lt ${USERS_FIRST}`, select: ["RowKey"] } })) {
        const rk = e.rowKey as string;
        if (!present.isLeft(keyHash(rk))) continue;
        count++;
        const id = idOfEntry(rk);
        if (id === undefined) orphans.push({ rowKey: rk, etag: e.etag as string });
        else stale.set(id, [...(stale.get(id) ?? []), { rowKey: rk, etag: e.etag as string }]);
      }
    } catch (e) {
      throw storageError(e, `read the lookup index of tenant ${tenantId}`);
    }
    const current = await mapLimit([...stale.keys()], 32, (id) => this.get(tenantId, id));
    const items: Array<{ id: string; current: StoredPlatformUser | undefined; remove: string[] }> = [];
    [...stale].forEach(([id, keys], i) => {
      users.add(id);
      const u = current[i];
      if (u) items.push({ id, current: u, remove: keys.map((k) => k.rowKey) });
      else orphans.push(...keys);
    });
    if (o.dryRun) return { entries: count, users: [...users] };
    await this.rewrite(tenantId, items);
    await this.deleteUnchanged(tenantId, orphans);
    return { entries: count, users: [...users] };
  }

  /** Index rows deleted only if unchanged since read (a user written meanwhile rewrote them). */
  private async deleteUnchanged(tenantId: string, rows: ReadonlyArray<{ rowKey: string; etag: string }>): Promise<void> {
    await mapLimit(rows, 16, async (x) => {
      try {
        this.writeRoundTrips++;
        await this.table.deleteEntity(tenantId, x.rowKey, { etag: x.etag });
      } catch (e) {
        if (!isNotFound(e) && (e as { statusCode?: number }).statusCode !== 412) throw storageError(e, `remove an index entry of tenant ${tenantId}`);
      }
    });
  }

  /** Users rewritten unchanged with every entry they need, less `remove` (the same write path as any update). */
  private async rewrite(tenantId: string, list: ReadonlyArray<{ id: string; current: StoredPlatformUser | undefined; remove: readonly string[] }>): Promise<void> {
    const items = list.map((w) => ({ id: w.id, current: w.current, plan: ((current) => (current ? { after: stripEtag(current), create: false, remove: w.remove } : { skip: true })) as Plan }));
    const outcome = await this.write(tenantId, items, { ensureAll: true });
    const failed = outcome.failed.values().next();
    if (!failed.done) throw failed.value;
  }

  /**
   * Writes users with their index edits, packed into transactions of the tenant's partition (4 in flight). A
   * transaction that fails (a user changed or appeared meanwhile, an entry to remove was already gone) is redone user
   * by user from a fresh read. `ensureAll`: upsert every entry the user needs, not only those of changed values.
   */
  private async write(
    tenantId: string,
    items: ReadonlyArray<{ id: string; current: StoredPlatformUser | undefined; plan: Plan }>,
    o: { ensureAll?: boolean; audit?: AuditContext | undefined } = {},
  ): Promise<{ created: number; failed: Map<string, EntraSyncError> }> {
    const failed = new Map<string, EntraSyncError>();
    let created = 0;
    const groups: Array<{ item: (typeof items)[number]; group: Group; create: boolean }> = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i > 0 && i % YIELD_EVERY === 0) await yieldToIo(); // a page's users are many: let answers in meanwhile
      const g = this.group(tenantId, item.current, item.plan, o.ensureAll ?? false, o.audit);
      if ("error" in g) failed.set(item.id, g.error);
      else if (g.group.actions.length) groups.push({ item, group: g.group, create: g.create });
    }
    await mapLimit(pack(groups, (x) => x.group), 4, async (batch) => {
      try {
        this.writeRoundTrips++;
        await this.table.submitTransaction(batch.flatMap((b) => b.group.actions));
        for (const b of batch) if (b.create) created++;
      } catch {
        await mapLimit(batch, 16, async ({ item }) => {
          try {
            if (await this.writeOne(tenantId, item, o.ensureAll ?? false, o.audit)) created++;
          } catch (e) {
            failed.set(item.id, e instanceof EntraSyncError ? e : storageError(e, `write platform user ${item.id}`));
          }
        });
      }
    });
    return { created, failed };
  }

  /** One user alone, from a fresh read of the user and of the entries to remove; true if it was created. */
  private async writeOne(tenantId: string, item: { id: string; plan: Plan }, ensureAll: boolean, audit?: AuditContext): Promise<boolean> {
    let last: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.get(tenantId, item.id);
      const g = this.group(tenantId, current, item.plan, ensureAll, audit);
      if ("error" in g) throw g.error;
      if (!g.group.actions.length) return false;
      // Removing an entry that is not there would fail the transaction: keep only the removals that can happen.
      const actions: TransactionAction[] = [];
      for (const a of g.group.actions) {
        if (a[0] === "delete" && !(await getOrUndefined(this.table, tenantId, a[1].rowKey as string))) continue;
        if (a[0] === "create" && (a[1].rowKey as string).startsWith(CLAIM_PREFIX)) {
          const holder = await getOrUndefined<{ userId?: string }>(this.table, tenantId, a[1].rowKey as string);
          const attr = claimAttributeOf(a[1].rowKey as string);
          if (holder && holder.userId !== item.id) throw new EntraSyncError("DIRECTORY_DUPLICATE", `Platform user ${item.id}: another user of the tenant already holds this ${attr} (created through SCIM); the user was not updated.`, { field: attr, retryable: false });
          if (holder) continue;
        }
        actions.push(a);
      }
      try {
        this.writeRoundTrips++;
        await this.table.submitTransaction(actions);
        return g.create;
      } catch (e) {
        last = e;
      }
    }
    throw storageError(last, `write platform user ${item.id} (it kept changing)`);
  }

  private group(tenantId: string, current: StoredPlatformUser | undefined, plan: Plan, ensureAll: boolean, audit?: AuditContext): { group: Group; create: boolean } | { error: EntraSyncError } {
    const p = plan(current);
    if ("error" in p) return p;
    if ("skip" in p) return { group: { id: current?.id ?? "", actions: [], bytes: 0 }, create: false };
    const after = { ...p.after, tenantId };
    const entity = toEntity(after);
    const actions: TransactionAction[] = [p.create || !current ? ["create", entity as never] : ["update", entity as never, "Replace", { etag: current.etag }]];
    // Keys and claims are a few distinct strings per user: arrays, not Maps and Sets.
    const want = keysOf(after);
    const had = current ? keysOf(current) : [];
    for (const k of want) if (ensureAll || !had.includes(k)) actions.push(["upsert", { partitionKey: tenantId, rowKey: k }, "Replace"]);
    for (const k of p.remove?.length ? new Set([...had, ...p.remove]) : had) if (!want.includes(k)) actions.push(["delete", { partitionKey: tenantId, rowKey: k }]);
    const hadClaims = claimsOf(current);
    const wantClaims = claimsOf(after);
    for (const c of hadClaims) if (!wantClaims.includes(c)) actions.push(["delete", { partitionKey: tenantId, rowKey: c }]);
    for (const c of wantClaims) {
      if (!hadClaims.includes(c)) actions.push(["create", { partitionKey: tenantId, rowKey: c, userId: after.id }]);
      // Repair: the user's own claim is written again (a claim held by another user is never taken: see repairIndex).
      else if (ensureAll) actions.push(["upsert", { partitionKey: tenantId, rowKey: c, userId: after.id }, "Replace"]);
    }
    // The audit entry goes in the same transaction as the change: stored together or not at all.
    const audited = this.auditAction(tenantId, audit, current, after);
    if (audited) actions.push(audited);
    return { group: { id: after.id, actions, bytes: entityChars(entity) * 2 + (audited ? entityChars(audited[1]) * 2 : 0) + actions.length * 1024 }, create: !current };
  }
}

/** Users grouped between two yields to the event loop when a write is built. */
const YIELD_EVERY = 50;

/** Packs groups into transactions: at most 100 entities and under 4 MiB each, a group never split, a user once. */
function pack<T>(items: readonly T[], groupOf: (t: T) => Group): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let n = 0;
  let bytes = 0;
  let ids = new Set<string>();
  for (const it of items) {
    const g = groupOf(it);
    if (cur.length && (n + g.actions.length > TABLE_LIMITS.transactionEntities || bytes + g.bytes > TABLE_LIMITS.transactionBytes - 64 * 1024 || ids.has(g.id))) {
      out.push(cur);
      cur = [];
      n = 0;
      bytes = 0;
      ids = new Set();
    }
    cur.push(it);
    n += g.actions.length;
    bytes += g.bytes;
    ids.add(g.id);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** An upper bound of an entity's JSON length in characters, without building the JSON (keys, values, quoting). */
function entityChars(e: object): number {
  let n = 2;
  const r = e as Record<string, unknown>;
  for (const k in r) {
    const v = r[k];
    n += k.length + 4 + (typeof v === "string" ? v.length * 2 + 2 : 32);
  }
  return n;
}

function stripEtag(u: StoredPlatformUser): PlatformUser {
  const { etag: _etag, ...rest } = u;
  return rest;
}

function applyChanges(user: PlatformUser, changes: PlatformUpdate["changes"]): PlatformUser {
  // Built key by key (no spread and delete: the object keeps a fast shape); the user's own order, then new keys.
  const out: Record<string, unknown> = {};
  const u = user as unknown as Record<string, unknown>;
  const c = changes as Record<string, unknown>;
  for (const k in u) {
    if (k === "etag") continue;
    if (Object.hasOwn(c, k)) {
      const v = c[k];
      if (v !== null && v !== undefined) out[k] = v;
    } else out[k] = u[k];
  }
  for (const k in c) {
    const v = c[k];
    if ((k === "etag" || !Object.hasOwn(u, k)) && v !== null && v !== undefined) out[k] = v;
  }
  return out as unknown as PlatformUser;
}
