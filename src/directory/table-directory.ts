import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { chunk, mapLimit } from "../util/concurrency.js";
import { encodeKey, getOrUndefined, isConflict, isPreconditionFailed, storageError } from "../state/tables-client.js";
import type { ApplyResult, LookupAttribute, PlatformDirectory, PlatformUpdate, StoredPlatformUser } from "./directory.js";
import type { PlatformUser } from "./types.js";

const LOOKUPS: LookupAttribute[] = ["externalId", "userName", "email"];
const norm = (attr: LookupAttribute, v: string) => (attr === "externalId" ? v : v.trim().toLowerCase());
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
    for (const batch of chunk(merged, 100)) {
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
    }
    await mapLimit(indexChanges, 16, ({ id, before, after }) => this.reindex(tenantId, id, before, after));
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
    let created = 0;
    let replaced = 0;
    await mapLimit(users, 16, async (user) => {
      const u = { ...user, tenantId };
      const before = await this.get(tenantId, u.id);
      try {
        if (before) await this.users.updateEntity(toEntity(u) as never, "Replace", { etag: before.etag });
        else await this.users.createEntity(toEntity(u) as never);
      } catch (e) {
        throw storageError(e, `import platform user ${u.id}`);
      }
      if (before) replaced++;
      else created++;
      await this.reindex(tenantId, u.id, before ?? { id: u.id, tenantId }, u);
    });
    return { created, replaced };
  }

  async *list(tenantId: string): AsyncIterable<StoredPlatformUser> {
    for await (const e of this.users.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } }))
      yield fromEntity(e as Record<string, unknown>);
  }

  private async reindex(tenantId: string, id: string, before: Partial<PlatformUser>, after: Partial<PlatformUser>): Promise<void> {
    for (const attr of LOOKUPS) {
      const b = before[attr];
      const a = after[attr];
      const bn = typeof b === "string" && b ? norm(attr, b) : undefined;
      const an = typeof a === "string" && a ? norm(attr, a) : undefined;
      if (bn === an) continue;
      if (bn && bn !== an) await this.editIndex(tenantId, attr, bn, (ids) => ids.filter((x) => x !== id));
      if (an) await this.editIndex(tenantId, attr, an, (ids) => (ids.includes(id) ? ids : [...ids, id]));
    }
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
