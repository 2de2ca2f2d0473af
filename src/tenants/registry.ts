import type { TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { getOrUndefined, isConflict, storageError } from "../state/tables-client.js";
import { chunk, mapLimit } from "../util/concurrency.js";
import { parseGuid, validateTenant, type Tenant } from "./model.js";

const PK = "tenant";

interface TenantEntity {
  partitionKey: string;
  rowKey: string;
  data: string;
  enabled: boolean;
  etag?: string;
}

/** Tenant registrations in Table Storage (one row per tenant; the body as validated JSON). */
export class TenantRegistry {
  constructor(
    private readonly table: TableClient,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async get(tenantId: string): Promise<Tenant | undefined> {
    const id = parseGuid(tenantId, "tenantId");
    const e = await getOrUndefined<TenantEntity>(this.table, PK, id);
    return e ? (JSON.parse(e.data) as Tenant) : undefined;
  }

  async require(tenantId: string): Promise<Tenant> {
    const t = await this.get(tenantId);
    if (!t) throw new EntraSyncError("TENANT_NOT_FOUND", `Tenant ${tenantId} is not registered. Register it with \`entra-sync tenant add\` or list tenants with \`entra-sync tenant list\`.`, { field: "tenantId", retryable: false });
    return t;
  }

  /** Registers a new tenant; fails if it exists. */
  async add(input: unknown): Promise<Tenant> {
    const t = validateTenant(input, this.clock());
    try {
      await this.table.createEntity<TenantEntity>({ partitionKey: PK, rowKey: t.tenantId, data: JSON.stringify(t), enabled: t.enabled });
    } catch (e) {
      if (isConflict(e)) throw new EntraSyncError("INPUT_INVALID", `Tenant ${t.tenantId} is already registered; change it with \`entra-sync tenant update ${t.tenantId} …\`.`, { field: "tenantId", retryable: false });
      throw storageError(e, `register tenant ${t.tenantId}`);
    }
    return t;
  }

  /**
   * Registers many new tenants at once (bulk onboarding): every one is validated before anything is written, then
   * they are created in transactions of up to 100 rows. A tenant already registered fails its transaction, which is
   * then redone row by row, so the error names that tenant and every other one is registered.
   */
  async addMany(inputs: readonly unknown[], o: { onProgress?: (registered: number) => void } = {}): Promise<Tenant[]> {
    const now = this.clock();
    const seen = new Set<string>();
    const tenants = inputs.map((input, i) => {
      let t: Tenant;
      try {
        t = validateTenant(input, now);
      } catch (e) {
        if (e instanceof EntraSyncError) throw new EntraSyncError(e.code, `Tenant ${i + 1}: ${e.message} Nothing was registered.`, { field: e.field, retryable: false });
        throw e;
      }
      if (seen.has(t.tenantId)) throw new EntraSyncError("INPUT_INVALID", `Tenant ${i + 1}: ${t.tenantId} appears twice. Nothing was registered.`, { field: "tenantId", retryable: false });
      seen.add(t.tenantId);
      return t;
    });
    let registered = 0;
    const existing: string[] = [];
    await mapLimit(chunk(tenants, 100), 4, async (part) => {
      try {
        await this.table.submitTransaction(part.map((t) => ["create", { partitionKey: PK, rowKey: t.tenantId, data: JSON.stringify(t), enabled: t.enabled }]));
        registered += part.length;
      } catch {
        for (const t of part) {
          try {
            await this.table.createEntity<TenantEntity>({ partitionKey: PK, rowKey: t.tenantId, data: JSON.stringify(t), enabled: t.enabled });
            registered++;
          } catch (e) {
            if (!isConflict(e)) throw storageError(e, `register tenant ${t.tenantId}`);
            existing.push(t.tenantId);
          }
        }
      }
      o.onProgress?.(registered);
    });
    if (existing.length)
      throw new EntraSyncError(
        "INPUT_INVALID",
        `${existing.length} tenant(s) were already registered and left as they are (${existing.slice(0, 5).join(", ")}${existing.length > 5 ? ", …" : ""}); the other ${registered} were registered. Change registered tenants with \`entra-sync tenant update\`.`,
        { field: "tenantId", retryable: false },
      );
    return tenants;
  }

  /** Changes fields of a registered tenant (validated as a whole; ETag-guarded). */
  async update(tenantId: string, patch: Record<string, unknown>): Promise<Tenant> {
    const id = parseGuid(tenantId, "tenantId");
    if ("tenantId" in patch && patch.tenantId !== undefined && parseGuid(patch.tenantId, "tenantId") !== id)
      throw new EntraSyncError("INPUT_INVALID", "tenantId cannot be changed; register the other tenant separately.", { field: "tenantId" });
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await getOrUndefined<TenantEntity>(this.table, PK, id);
      if (!e) return this.require(id);
      const current = JSON.parse(e.data) as Tenant;
      const next = validateTenant({ ...patch, tenantId: id }, this.clock(), current);
      try {
        await this.table.updateEntity<TenantEntity>({ partitionKey: PK, rowKey: id, data: JSON.stringify(next), enabled: next.enabled }, "Replace", { etag: e.etag });
        return next;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 412) continue;
        throw storageError(err, `update tenant ${id}`);
      }
    }
    throw new EntraSyncError("STORAGE_CONFLICT", `Tenant ${id} kept changing during the update; try again.`);
  }

  /**
   * Clears the tenant's pending full resync once a run has read every user — only the request that run served: a
   * mapping changed again meanwhile keeps its own request.
   */
  async clearFullResync(tenantId: string, requestedAt: string): Promise<boolean> {
    const id = parseGuid(tenantId, "tenantId");
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await getOrUndefined<TenantEntity>(this.table, PK, id);
      if (!e) return false;
      const t = JSON.parse(e.data) as Tenant;
      if (t.fullResync?.requestedAt !== requestedAt) return false;
      const { fullResync: _done, ...rest } = t;
      try {
        await this.table.updateEntity<TenantEntity>({ partitionKey: PK, rowKey: id, data: JSON.stringify(rest), enabled: rest.enabled }, "Replace", { etag: e.etag });
        return true;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 412) continue;
        throw storageError(err, `update tenant ${id}`);
      }
    }
    return false;
  }

  /** Every tenant, page by page (one query). */
  async *list(): AsyncIterable<Tenant> {
    for await (const e of this.table.listEntities<TenantEntity>({ queryOptions: { filter: `PartitionKey eq '${PK}'` } })) yield JSON.parse((e as TenantEntity).data) as Tenant;
  }

  async listAll(): Promise<Tenant[]> {
    const out: Tenant[] = [];
    for await (const t of this.list()) out.push(t);
    return out;
  }
}
