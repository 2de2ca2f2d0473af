import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { chunk, mapLimit } from "../util/concurrency.js";
import { encodeKey, getOrUndefined, isConflict, isPreconditionFailed, storageError } from "../state/tables-client.js";
import { normalizeLookup, type ApplyResult, type LookupAttribute, type PlatformDirectory, type PlatformUpdate, type StoredPlatformUser } from "./directory.js";
import type { PlatformUser } from "./types.js";

const LOOKUPS: LookupAttribute[] = ["externalId", "userName", "email"];
const norm = normalizeLookup;
const indexPk = (tenantId: string, attr: LookupAttribute) => `${tenantId}|${attr}`;

interface IndexEntity {
  partitionKey: string;
  rowKey: string;
  ids: string;
}

type UserEntity = Omit<PlatformUser, "id" | "tenantId"> & { partitionKey: string; rowKey: string; etag?: string };

function toEntity(u: PlatformUser): UserEntity {
  const { id, tenantId, ...rest } = u;
  const e: Record<string, unknown> = { partitionKey: tenantId, rowKey: id };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && v !== null && v !== "") e[k] = v;
  return e as UserEntity;
}

function fromEntity(e: Record<string, unknown>): StoredPlatformUser {
  const u: Record<string, unknown> = { id: e.rowKey, tenantId: e.partitionKey, etag: e.etag };
  for (const [k, v] of Object.entries(e)) {
    if (k === "partitionKey" || k === "rowKey" || k === "etag" || k === "timestamp" || k.startsWith("odata")) continue;
    u[k] = v;
  }
  return u as unknown as StoredPlatformUser;
}

/** The default platform directory adapter: users in one table (partition = tenant), lookup indexes in another. */
export class TablePlatformDirectory implements PlatformDirectory {
  writeRoundTrips = 0;
  constructor(
    private readonly users: TableClient,
    private readonly index: TableClient,
  ) {}

  async get(tenantId: string, id: string): Promise<StoredPlatformUser | undefined> {
    const e = await getOrUndefined<Record<string, unknown>>(this.users, tenantId, id);
    return e ? fromEntity(e) : undefined;
  }

  async findBy(tenantId: string, attribute: LookupAttribute, values: readonly string[]): Promise<Map<string, StoredPlatformUser[]>> {
    const unique = [...new Set(values)];
    const idLists = await mapLimit(unique, 32, async (v) => {
      const row = await getOrUndefined<IndexEntity>(this.index, indexPk(tenantId, attribute), encodeKey(norm(attribute, v)));
      return row ? (JSON.parse(row.ids) as string[]) : [];
    });
    const allIds = [...new Set(idLists.flat())];
    const fetched = await mapLimit(allIds, 32, (id) => this.get(tenantId, id));
    const byId = new Map(fetched.filter((u): u is StoredPlatformUser => !!u).map((u) => [u.id, u]));
    const out = new Map<string, StoredPlatformUser[]>();
    unique.forEach((v, i) => {
      // re-check the value: an index row may lag a concurrent change
      const users = (idLists[i] ?? []).map((id) => byId.get(id)).filter((u): u is StoredPlatformUser => {
        const cur = u?.[attribute];
        return !!u && typeof cur === "string" && norm(attribute, cur) === norm(attribute, v);
      });
      out.set(v, users);
    });
    return out;
  }

  async applyUpdates(tenantId: string, updates: readonly PlatformUpdate[]): Promise<ApplyResult> {
    const result: ApplyResult = { updated: [], failed: [] };
    const indexChanges: Array<{ id: string; before: PlatformUser; after: PlatformUser }> = [];
    const merged = updates.map((u) => ({ u, after: applyChanges(u.user, u.changes) }));
    // Transactions of one partition in flight together: each is atomic on its own, and a round trip is mostly waiting.
    await mapLimit(chunk(merged, 100), 4, async (batch) => {
      const actions: TransactionAction[] = batch.map(({ u, after }) => ["update", toEntity(after) as never, "Replace", { etag: u.user.etag }]);
      try {
        this.writeRoundTrips++;
        await this.users.submitTransaction(actions);
        for (const { u, after } of batch) {
          result.updated.push(u.user.id);
          indexChanges.push({ id: u.user.id, before: u.user, after });
        }
      } catch {
        // One action failed (a user changed or vanished meanwhile): write them one by one.
        await mapLimit(batch, 16, async ({ u }) => {
          try {
            const after = await this.updateOne(tenantId, u);
            result.updated.push(u.user.id);
            indexChanges.push({ id: u.user.id, before: u.user, after: after.after });
          } catch (e) {
            result.failed.push({ id: u.user.id, message: e instanceof Error ? e.message : String(e) });
          }
        });
      }
    });
    await this.reindexMany(tenantId, indexChanges);
    return result;
  }

  private async updateOne(tenantId: string, u: PlatformUpdate): Promise<{ after: PlatformUser }> {
    let current: StoredPlatformUser | undefined = u.user;
    for (let attempt = 0; attempt < 3; attempt++) {
      const after = applyChanges(current, u.changes);
      try {
        this.writeRoundTrips++;
        await this.users.updateEntity(toEntity(after) as never, "Replace", { etag: current.etag });
        return { after };
      } catch (e) {
        if (!isPreconditionFailed(e) && (e as { statusCode?: number }).statusCode !== 404) throw storageError(e, `update platform user ${u.user.id}`);
        current = await this.get(tenantId, u.user.id);
        if (!current) throw new EntraSyncError("STORAGE_CONFLICT", `Platform user ${u.user.id} no longer exists; it was not recreated.`, { retryable: false });
      }
    }
    throw new EntraSyncError("STORAGE_CONFLICT", `Platform user ${u.user.id} kept changing during the update; try again.`);
  }

  async importUsers(tenantId: string, users: readonly PlatformUser[]): Promise<{ created: number; replaced: number }> {
    // Users: upserts in transactions of 100 (one partition per tenant). Existing users are read first so that
    // their old index entries can be removed.
    const list = users.map((u) => ({ ...u, tenantId }));
    const before = new Map<string, StoredPlatformUser>();
    if (list.length > 200) {
      const wanted = new Set(list.map((u) => u.id));
      for await (const e of this.list(tenantId)) if (wanted.has(e.id)) before.set(e.id, e);
    } else {
      const existing = await mapLimit(list, 32, (u) => this.get(tenantId, u.id));
      for (const e of existing) if (e) before.set(e.id, e);
    }
    await mapLimit(chunk(list, 100), 4, async (batch) => {
      try {
        await this.users.submitTransaction(batch.map((u) => ["upsert", toEntity(u) as never, "Replace"] as TransactionAction));
      } catch (e) {
        throw storageError(e, `import ${batch.length} platform users`);
      }
    });
    await this.reindexMany(tenantId, list.map((u) => ({ id: u.id, before: before.get(u.id) ?? { id: u.id, tenantId }, after: u })));
    return { created: list.length - before.size, replaced: before.size };
  }

  async *list(tenantId: string): AsyncIterable<StoredPlatformUser> {
    for await (const e of this.users.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } }))
      yield fromEntity(e as Record<string, unknown>);
  }

  /**
   * Applies the index changes of many users at once: one edit per distinct key, written in transactions of 100 per
   * index partition with ETags; a batch that meets a concurrent change falls back to key-by-key edits.
   */
  private async reindexMany(tenantId: string, changes: ReadonlyArray<{ id: string; before: Partial<PlatformUser>; after: Partial<PlatformUser> }>): Promise<void> {
    // Each lookup attribute has its own index partition: the three are maintained at once.
    await Promise.all(LOOKUPS.map((attr) => this.reindexAttribute(tenantId, attr, changes)));
  }

  private async reindexAttribute(tenantId: string, attr: LookupAttribute, changes: ReadonlyArray<{ id: string; before: Partial<PlatformUser>; after: Partial<PlatformUser> }>): Promise<void> {
    const edits = new Map<string, { add: Set<string>; remove: Set<string> }>();
    const edit = (value: string) => {
      let e = edits.get(value);
      if (!e) edits.set(value, (e = { add: new Set(), remove: new Set() }));
      return e;
    };
    for (const { id, before, after } of changes) {
      const b = before[attr];
      const a = after[attr];
      const bv = typeof b === "string" && b ? norm(attr, b) : undefined;
      const av = typeof a === "string" && a ? norm(attr, a) : undefined;
      if (bv === av) continue;
      if (bv) edit(bv).remove.add(id);
      if (av) edit(av).add.add(id);
    }
    if (edits.size === 0) return;
    const pk = indexPk(tenantId, attr);
    const current = new Map<string, IndexEntity & { etag: string }>();
    if (edits.size > 300) {
      for await (const e of this.index.listEntities<IndexEntity>({ queryOptions: { filter: odata`PartitionKey eq ${pk}` } })) current.set(e.rowKey as string, e as IndexEntity & { etag: string });
    } else {
      const rows = await mapLimit([...edits.keys()], 32, (v) => getOrUndefined<IndexEntity>(this.index, pk, encodeKey(v)));
      for (const r of rows) if (r) current.set(r.rowKey, r);
    }
    const actions: Array<{ value: string; action: TransactionAction }> = [];
    for (const [value, e] of edits) {
      const rk = encodeKey(value);
      const row = current.get(rk);
      const ids = row ? (JSON.parse(row.ids) as string[]) : [];
      const next = [...new Set([...ids.filter((x) => !e.remove.has(x)), ...e.add])];
      if (row && next.length === ids.length && next.every((x, i) => x === ids[i])) continue;
      if (!row && next.length === 0) continue;
      const entity = { partitionKey: pk, rowKey: rk, ids: JSON.stringify(next) };
      const action = (!row ? ["create", entity] : next.length === 0 ? ["delete", entity, { etag: row.etag }] : ["update", entity, "Replace", { etag: row.etag }]) as TransactionAction;
      actions.push({ value, action });
    }
    await mapLimit(chunk(actions, 100), 4, async (batch) => {
      try {
        this.writeRoundTrips++;
        await this.index.submitTransaction(batch.map((b) => b.action));
      } catch {
        await mapLimit(batch, 16, ({ value }) => {
          const e = edits.get(value)!;
          return this.editIndex(tenantId, attr, value, (ids) => [...new Set([...ids.filter((x) => !e.remove.has(x)), ...e.add])]);
        });
      }
    });
  }

  private async editIndex(tenantId: string, attr: LookupAttribute, value: string, edit: (ids: string[]) => string[]): Promise<void> {
    const pk = indexPk(tenantId, attr);
    const rk = encodeKey(value);
    for (let attempt = 0; attempt < 10; attempt++) {
      const row = await getOrUndefined<IndexEntity>(this.index, pk, rk);
      const ids = row ? (JSON.parse(row.ids) as string[]) : [];
      const next = edit(ids);
      if (row && next.length === ids.length && next.every((x, i) => x === ids[i])) return;
      try {
        if (!row) await this.index.createEntity({ partitionKey: pk, rowKey: rk, ids: JSON.stringify(next) });
        else if (next.length === 0) await this.index.deleteEntity(pk, rk, { etag: row.etag });
        else await this.index.updateEntity({ partitionKey: pk, rowKey: rk, ids: JSON.stringify(next) }, "Replace", { etag: row.etag });
        return;
      } catch (e) {
        if (isConflict(e) || isPreconditionFailed(e)) continue;
        throw storageError(e, `update the ${attr} index of tenant ${tenantId}`);
      }
    }
    throw new EntraSyncError("STORAGE_CONFLICT", `The ${attr} index of tenant ${tenantId} kept changing; try again.`);
  }
}

function applyChanges(user: PlatformUser, changes: PlatformUpdate["changes"]): PlatformUser {
  const out: Record<string, unknown> = { ...user };
  delete out.etag;
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined) delete out[k];
    else out[k] = v;
  }
  return out as unknown as PlatformUser;
}
