import type { TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { getOrUndefined, isConflict, storageError } from "../state/tables-client.js";
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
