import type { TableClient, TransactionAction } from "@azure/data-tables";
import { odata } from "@azure/data-tables";
import type { GraphUser } from "../graph/users.js";
import { mapLimit } from "../util/concurrency.js";
import { getOrUndefined, isNotFound, storageError, statusOf } from "../state/tables-client.js";
import { DIRTY_PREFIX, entryDigest, hashHex, keysOfRow, REMOVED_PREFIX, ROWS_FIRST, SUMMARY_KEY, type CandidateState, type ShardSummary, type StoredDerived } from "./derived.js";

/** How many partitions a tenant's connector space is spread over (each takes ~2,000 writes/s in Azure). */
export const CONNECTOR_SHARDS = 4;

/** Above this many users at once, markDirty marks the whole candidate state out of date instead of each row. */
export const MARK_DIRTY_MAX = 500;

/** entra-sync's last-seen copy of one Entra user, with its matching state. */
export interface ConnectorRow {
  id: string;
  user: GraphUser;
  /** Set when Entra reported the user removed; cleared when it comes back. */
  removed?: "changed" | "deleted" | undefined;
  removedAt?: string | undefined;
  /** The platform user this Entra user is matched to, when exactly one matched. */
  platformUserId?: string | undefined;
  match?: "matched" | "unmatched" | "ambiguous" | undefined;
  /** When update sync last processed the row (ISO). */
  seenAt?: string | undefined;
  /**
   * Set by Immutable ID sync's switchUpn before it moves a UPN to the initial domain, cleared once the UPN is back:
   * a crash between the steps leaves it, and the next run puts the UPN back. `value`: the ImmutableId the move was for.
   */
  upnSwitch?: { original: string; temporary: string; at: string; value?: string | undefined } | undefined;
  /** What Immutable ID sync last concluded about the user (kept current incrementally; see connector/derived.ts). */
  iid?: CandidateState | undefined;
  /** The row changed since Immutable ID sync last looked at it. */
  iidDirty?: boolean | undefined;
  /** The index keys and candidate state as stored (shared by copies of the row, updated in place by writes). */
  stored?: StoredDerived & { iid?: CandidateState | undefined };
}

interface Entity {
  partitionKey: string;
  rowKey: string;
  user: string;
  immutableId?: string;
  syncEnabled?: boolean;
  removed?: string;
  removedAt?: string;
  platformUserId?: string;
  match?: string;
  seenAt?: string;
  upnSwitch?: string;
  iid?: string;
  idx?: string;
  dirty?: boolean;
}

type Key = { partitionKey: string; rowKey: string };
type Actionable = Record<string, unknown> & Key;

export function shardOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % CONNECTOR_SHARDS;
}
const pk = (tenantId: string, id: string) => `${tenantId}_${shardOf(id)}`;
const shardPk = (tenantId: string, s: number) => `${tenantId}_${s}`;

/** A row's contribution to its shard's summary: its category (when counted) and its planned entry's digest. */
export function contributionOf(id: string, iid: CandidateState | undefined): { cat?: string; digest: bigint } {
  if (!iid || iid.cat === "removed") return { digest: 0n };
  if (iid.cat !== "planned") return { cat: iid.cat, digest: 0n };
  return { cat: "planned", digest: entryDigest({ entraId: id, userPrincipalName: iid.upn ?? "", value: iid.value ?? "", platformUserId: iid.platformUserId ?? "", action: iid.action ?? "write" }) };
}

function toEntity(tenantId: string, r: ConnectorRow): Entity {
  const e: Entity = { partitionKey: pk(tenantId, r.id), rowKey: r.id, user: JSON.stringify(r.user) };
  if (r.user.onPremisesImmutableId) e.immutableId = r.user.onPremisesImmutableId;
  if (r.user.onPremisesSyncEnabled) e.syncEnabled = true;
  if (r.removed) e.removed = r.removed;
  if (r.removedAt) e.removedAt = r.removedAt;
  if (r.platformUserId) e.platformUserId = r.platformUserId;
  if (r.match) e.match = r.match;
  if (r.seenAt) e.seenAt = r.seenAt;
  if (r.upnSwitch) e.upnSwitch = JSON.stringify(r.upnSwitch);
  if (r.iid) e.iid = JSON.stringify(r.iid);
  if (r.iidDirty) e.dirty = true;
  e.idx = JSON.stringify(keysOfRow(r));
  return e;
}

function fromEntity(e: Entity): ConnectorRow {
  const iid = e.iid ? (JSON.parse(e.iid) as CandidateState) : undefined;
  return {
    id: e.rowKey,
    user: JSON.parse(e.user) as GraphUser,
    removed: e.removed as ConnectorRow["removed"],
    removedAt: e.removedAt,
    platformUserId: e.platformUserId,
    match: e.match as ConnectorRow["match"],
    seenAt: e.seenAt,
    upnSwitch: e.upnSwitch ? (JSON.parse(e.upnSwitch) as ConnectorRow["upnSwitch"]) : undefined,
    iid,
    iidDirty: e.dirty === true ? true : undefined,
    stored: { keys: e.idx ? (JSON.parse(e.idx) as string[]) : [], iid },
  };
}

/** The transaction actions that store a row's derived index: entries it gains upserted, entries it loses deleted. */
function indexActions(partitionKey: string, before: readonly string[], after: readonly string[]): TransactionAction[] {
  const was = new Set(before);
  const now = new Set(after);
  const out: TransactionAction[] = [];
  for (const k of now) if (!was.has(k)) out.push(["upsert", { partitionKey, rowKey: k } as Actionable, "Replace"]);
  for (const k of was) if (!now.has(k)) out.push(["delete", { partitionKey, rowKey: k }]);
  return out;
}

const summaryEntity = (partitionKey: string, s: ShardSummary): Actionable => ({ partitionKey, rowKey: SUMMARY_KEY, counts: JSON.stringify(s.counts), hashSum: s.hashSum, settingsHash: s.settingsHash, builtAt: s.builtAt });
export const emptySummary = (): ShardSummary => ({ counts: {}, hashSum: hashHex(0n), settingsHash: "", builtAt: "" });

/** Adds (sign 1) or removes (sign -1) a row's contribution to a summary. */
export function applyContribution(s: ShardSummary, c: { cat?: string; digest: bigint }, sign: 1 | -1): void {
  if (c.cat) {
    const n = (s.counts[c.cat] ?? 0) + sign;
    if (n === 0) delete s.counts[c.cat];
    else s.counts[c.cat] = n;
  }
  if (c.digest) s.hashSum = hashHex(BigInt(`0x${s.hashSum}`) + BigInt(sign) * c.digest);
}

/** The connector space in Table Storage: one row per Entra user per tenant, spread over a few partitions. */
export class ConnectorSpace {
  /** Table transactions sent (for the benchmark of batching). */
  transactions = 0;
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string, id: string): Promise<ConnectorRow | undefined> {
    if (id.startsWith("!")) return undefined;
    const e = await getOrUndefined<Entity>(this.table, pk(tenantId, id), id);
    return e ? fromEntity(e) : undefined;
  }

  /** Point-reads the rows of the given users (those that exist). */
  async getMany(tenantId: string, ids: readonly string[]): Promise<Map<string, ConnectorRow>> {
    const unique = [...new Set(ids)];
    const rows = await mapLimit(unique, 32, (id) => this.get(tenantId, id));
    const out = new Map<string, ConnectorRow>();
    for (const r of rows) if (r) out.set(r.id, r);
    return out;
  }

  /**
   * Writes rows (upsert, replace) with the index entries derived from them, each row and its entries in one
   * transaction (up to 100 entities per partition). Re-writing a row is harmless. `dirty` (default true) marks each row
   * for Immutable ID sync to look at again; update sync passes false in a full round, after which the tenant's
   * candidate state is rebuilt in full anyway (see invalidateCandidates).
   */
  async putMany(tenantId: string, rows: readonly ConnectorRow[], o: { dirty?: boolean } = {}): Promise<void> {
    const last = new Map<string, ConnectorRow>();
    for (const r of rows) last.set(r.id, r); // a user twice on one page: the later state wins
    const items = [...last.values()].map((r) => {
      // The candidate state is Immutable ID sync's (saveCandidates): kept as stored, whatever copy of the row this is.
      const row = { ...r, iid: r.stored?.iid, iidDirty: o.dirty === false ? r.iidDirty : true };
      const e = toEntity(tenantId, row);
      return { row: r, keys: JSON.parse(e.idx!) as string[], entity: e as unknown as Actionable, mode: "Replace" as const };
    });
    await this.writeGroups(tenantId, items, `write connector-space rows of tenant ${tenantId}`);
  }

  /**
   * Stores Immutable ID sync's conclusions about rows (their `iid`, dirty mark cleared, the index entries they imply)
   * and keeps each shard's summary equal to the sum over its rows, in the same transactions: `summaries` (by shard)
   * must hold the stored summaries and is updated as transactions succeed. Only the candidate properties are
   * written (merge), so a row's other properties are never overwritten with an older copy.
   */
  async saveCandidates(tenantId: string, rows: readonly ConnectorRow[], summaries: Map<number, ShardSummary>): Promise<void> {
    const items = rows.map((r) => {
      const after = { ...r, iidDirty: undefined };
      const keys = keysOfRow(after);
      const entity: Actionable = { partitionKey: pk(tenantId, r.id), rowKey: r.id, idx: JSON.stringify(keys), dirty: false, iid: r.iid ? JSON.stringify(r.iid) : "" };
      return { row: r, keys, entity, mode: "Merge" as const };
    });
    await this.writeGroups(tenantId, items, `store Immutable ID candidate states of tenant ${tenantId}`, summaries);
  }

  /** Groups rows and their index edits into transactions per partition; with summaries, one at a time per partition. */
  private async writeGroups(tenantId: string, items: Array<{ row: ConnectorRow; keys: string[]; entity: Actionable; mode: "Replace" | "Merge" }>, what: string, summaries?: Map<number, ShardSummary>): Promise<void> {
    const byShard = new Map<number, typeof items>();
    for (const it of items) {
      const s = shardOf(it.row.id);
      const list = byShard.get(s) ?? [];
      list.push(it);
      byShard.set(s, list);
    }
    const room = summaries ? 99 : 100;
    const batches: Array<{ shard: number; items: typeof items }> = [];
    for (const [shard, list] of byShard) {
      let cur: typeof items = [];
      let n = 0;
      for (const it of list) {
        const size = 1 + indexActions("", it.row.stored?.keys ?? [], it.keys).length;
        if (n + size > room && cur.length) {
          batches.push({ shard, items: cur });
          cur = [];
          n = 0;
        }
        cur.push(it);
        n += size;
      }
      if (cur.length) batches.push({ shard, items: cur });
    }
    const send = async (b: { shard: number; items: typeof items }, retry: boolean): Promise<void> => {
      const partitionKey = shardPk(tenantId, b.shard);
      const actions: TransactionAction[] = [];
      const next = summaries ? structuredClone(summaries.get(b.shard) ?? emptySummary()) : undefined;
      for (const it of b.items) {
        actions.push(["upsert", it.entity, it.mode]);
        actions.push(...indexActions(partitionKey, it.row.stored?.keys ?? [], it.keys));
        if (next) {
          applyContribution(next, contributionOf(it.row.id, it.row.stored?.iid), -1);
          applyContribution(next, contributionOf(it.row.id, it.row.iid), 1);
        }
      }
      if (next) actions.push(["upsert", summaryEntity(partitionKey, next), "Replace"]);
      try {
        this.transactions++;
        await this.table.submitTransaction(actions);
      } catch (e) {
        // An index entry the row's copy believed stored is gone (an older copy of the row was written since): read
        // what is stored, and try once more.
        if (retry && (isNotFound(e) || statusOf(e) === 404)) {
          await this.refreshStored(tenantId, b.items.map((it) => it.row));
          return send(b, false);
        }
        throw storageError(e, `${what} (${b.items.length} rows)`);
      }
      for (const it of b.items) {
        const iid = it.mode === "Merge" ? it.row.iid : (JSON.parse((it.entity.iid as string | undefined) ?? "null") as CandidateState | null) ?? undefined;
        if (it.row.stored) {
          it.row.stored.keys = it.keys;
          it.row.stored.iid = iid;
        } else it.row.stored = { keys: it.keys, iid };
      }
      if (next) summaries!.set(b.shard, next);
    };
    if (summaries) {
      const perShard = [...byShard.keys()].map((s) => batches.filter((b) => b.shard === s));
      await Promise.all(perShard.map(async (list) => {
        for (const b of list) await send(b, true);
      }));
    } else await mapLimit(batches, 8, (b) => send(b, true));
  }

  /**
   * Marks the rows of these Entra users for Immutable ID sync to look at again, leaving everything else of the row as
   * stored: the platform side changed what their candidate state depends on (a platform user written by an import or
   * through SCIM). One transaction per row (the dirty mark, its index entry, the row's list of entries), guarded by the
   * row's ETag so that a concurrent write of the row is never undone; ids with no row are skipped. Nothing is marked
   * while the tenant's candidate state is out of date anyway (never built, or a full round since: the next plan is a
   * full one); more than MARK_DIRTY_MAX users at once (a bulk import) mark the state out of date instead, since the
   * full re-plan that follows costs less than a read and a write per user.
   */
  async markDirty(tenantId: string, entraIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(entraIds)];
    if (ids.length === 0) return;
    const stateIsCurrent = async () => [...(await this.readSummaries(tenantId)).values()].every((s) => !!s.settingsHash && !!s.builtAt);
    if (ids.length > MARK_DIRTY_MAX) return (await stateIsCurrent()) ? this.invalidateCandidates(tenantId) : undefined;
    // Rows first (a tenant served only through SCIM has none: one read per user and nothing else).
    const read = (id: string) => getOrUndefined<Entity & { etag: string }>(this.table, pk(tenantId, id), id);
    const rows = (await mapLimit(ids, 16, read)).filter((e) => e !== undefined && e.dirty !== true);
    if (rows.length === 0 || !(await stateIsCurrent())) return;
    await mapLimit(rows, 16, async (first) => {
      const id = first!.rowKey;
      const partitionKey = first!.partitionKey;
      let e = first;
      for (let attempt = 0; e && e.dirty !== true; attempt++) {
        const keys: string[] = e.idx ? (JSON.parse(e.idx) as string[]) : [];
        const mark = `${DIRTY_PREFIX}${id}`;
        try {
          this.transactions++;
          await this.table.submitTransaction([
            ["update", { partitionKey, rowKey: id, dirty: true, idx: JSON.stringify([...new Set([...keys, mark])]) }, "Merge", { etag: e.etag }],
            ["upsert", { partitionKey, rowKey: mark }, "Replace"],
          ]);
          return;
        } catch (err) {
          // 412: the row was written since it was read; read it again (a few times, then give up with the cause).
          if (attempt >= 3) throw storageError(err, `mark the connector-space row ${id} of tenant ${tenantId} for Immutable ID sync`);
          e = await read(id);
        }
      }
    });
  }

  /** Re-reads the stored index keys and candidate state of rows (after a write found them changed). */
  private async refreshStored(tenantId: string, rows: readonly ConnectorRow[]): Promise<void> {
    await mapLimit(rows, 32, async (r) => {
      const cur = await this.get(tenantId, r.id);
      const stored = cur?.stored ?? { keys: [] };
      if (r.stored) {
        r.stored.keys = stored.keys;
        r.stored.iid = stored.iid;
      } else r.stored = stored;
    });
  }

  /** RowKeys of index entries of a tenant that start with `prefix`, in every partition. */
  async indexKeys(tenantId: string, prefix: string): Promise<string[]> {
    const end = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
    const out: string[][] = await Promise.all(
      Array.from({ length: CONNECTOR_SHARDS }, async (_, s) => {
        const keys: string[] = [];
        try {
          const it = this.table.listEntities<Key>({ queryOptions: { filter: odata`PartitionKey eq ${shardPk(tenantId, s)} and RowKey ge ${prefix} and RowKey lt ${end}`, select: ["RowKey"] } });
          for await (const e of it) keys.push(e.rowKey!);
        } catch (e) {
          throw storageError(e, `read the connector-space index of tenant ${tenantId}`);
        }
        return keys;
      }),
    );
    return out.flat();
  }

  /**
   * Deletes the rows of users Entra removed before `before` (with their index entries), found through their `!r|`
   * entries: a read of the few old ones, not a scan of the tenant. Each row goes with its index entries in one
   * transaction. `before` must lie past Entra's 30 days of soft deletion, so that no such user comes back while its
   * row is deleted; a row whose Immutable ID state still counts in its shard's summary is left for the next plan.
   * Returns how many rows went.
   */
  async pruneRemoved(tenantId: string, before: Date): Promise<number> {
    const upper = `${REMOVED_PREFIX}${before.toISOString()}`;
    const counts = await Promise.all(
      Array.from({ length: CONNECTOR_SHARDS }, async (_, s) => {
        const partitionKey = shardPk(tenantId, s);
        const keys: string[] = [];
        try {
          const it = this.table.listEntities<Key>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey} and RowKey ge ${REMOVED_PREFIX} and RowKey lt ${upper}`, select: ["RowKey"] } });
          for await (const e of it) keys.push(e.rowKey!);
        } catch (e) {
          throw storageError(e, `read the removed users of tenant ${tenantId}`);
        }
        let n = 0;
        for (const key of keys) {
          const id = key.slice(key.indexOf("|", REMOVED_PREFIX.length) + 1);
          try {
            const e = await getOrUndefined<Entity>(this.table, partitionKey, id);
            const row = e ? fromEntity(e) : undefined;
            if (!row) {
              await this.table.deleteEntity(partitionKey, key);
              continue;
            }
            const c = contributionOf(id, row.iid);
            if (!row.removed || `${REMOVED_PREFIX}${row.removedAt}|${id}` !== key || c.cat || c.digest) continue;
            const others = (row.stored?.keys ?? []).filter((k) => k !== key);
            const last: TransactionAction[] = [["delete", { partitionKey, rowKey: id }], ["delete", { partitionKey, rowKey: key }]];
            this.transactions++;
            try {
              await this.table.submitTransaction([...last, ...others.map((rowKey): TransactionAction => ["delete", { partitionKey, rowKey }])]);
            } catch (err) {
              if (!isNotFound(err)) throw err;
              // An index entry the row lists is missing: delete the others one by one, then the row and its `!r|` entry.
              for (const rowKey of others) await this.table.deleteEntity(partitionKey, rowKey).catch((x: unknown) => (isNotFound(x) ? undefined : Promise.reject(x)));
              await this.table.submitTransaction(last);
            }
            n++;
          } catch (err) {
            if (isNotFound(err)) continue; // deleted meanwhile: the next pass decides
            throw storageError(err, `delete the row of removed user ${id} of tenant ${tenantId}`);
          }
        }
        return n;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The shards' summaries (absent ones empty). */
  async readSummaries(tenantId: string): Promise<Map<number, ShardSummary>> {
    const out = new Map<number, ShardSummary>();
    await Promise.all(
      Array.from({ length: CONNECTOR_SHARDS }, async (_, s) => {
        const e = await getOrUndefined<{ counts?: string; hashSum?: string; settingsHash?: string; builtAt?: string }>(this.table, shardPk(tenantId, s), SUMMARY_KEY);
        out.set(s, e ? { counts: JSON.parse(e.counts ?? "{}") as Record<string, number>, hashSum: e.hashSum ?? hashHex(0n), settingsHash: e.settingsHash ?? "", builtAt: e.builtAt ?? "" } : emptySummary());
      }),
    );
    return out;
  }

  /** Replaces the shards' summaries (the end of a full re-plan). */
  async writeSummaries(tenantId: string, summaries: Map<number, ShardSummary>): Promise<void> {
    try {
      await Promise.all([...summaries].map(([s, sum]) => this.table.upsertEntity(summaryEntity(shardPk(tenantId, s), sum), "Replace")));
    } catch (e) {
      throw storageError(e, `store the Immutable ID summary of tenant ${tenantId}`);
    }
  }

  /**
   * Marks the tenant's Immutable ID candidate state out of date (a full round rewrites rows without marking them):
   * the next Immutable ID step re-plans in full.
   */
  async invalidateCandidates(tenantId: string): Promise<void> {
    try {
      await Promise.all(Array.from({ length: CONNECTOR_SHARDS }, (_, s) => this.table.upsertEntity({ partitionKey: shardPk(tenantId, s), rowKey: SUMMARY_KEY, settingsHash: "" }, "Merge")));
    } catch (e) {
      throw storageError(e, `mark the Immutable ID state of tenant ${tenantId} out of date`);
    }
  }

  /** Every row of a tenant (all partitions), page by page. */
  async *list(tenantId: string): AsyncIterable<ConnectorRow> {
    for (let s = 0; s < CONNECTOR_SHARDS; s++) {
      const it = this.table.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${`${tenantId}_${s}`} and RowKey ge ${ROWS_FIRST}` } });
      for await (const e of it) yield fromEntity(e as Entity);
    }
  }

  /** True when the tenant has no row yet (first sync: reads of prior state can be skipped). */
  async isEmpty(tenantId: string): Promise<boolean> {
    for (let s = 0; s < CONNECTOR_SHARDS; s++) {
      const it = this.table.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${`${tenantId}_${s}`} and RowKey ge ${ROWS_FIRST}`, select: ["RowKey"] } }).byPage({ maxPageSize: 1 });
      for await (const page of it) {
        if (page.length > 0) return false;
        break;
      }
    }
    return true;
  }
}
