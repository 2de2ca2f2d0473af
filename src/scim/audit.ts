import { randomBytes } from "node:crypto";
import { odata, type TableClient } from "@azure/data-tables";
import { storageError } from "../state/tables-client.js";

/** One SCIM write, as an operator lists it: who (token id, never the token), what, which attributes (no values). */
export interface ScimAuditEntry {
  tenantId: string;
  at: string;
  tokenId: string;
  /** create, update, replace, deactivate, reactivate, delete (users); group-create, group-update, group-delete. */
  operation: string;
  resource: "User" | "Group";
  resourceId: string;
  /** Attribute paths that changed. */
  attributes: string[];
  status: number;
}

const MAX_TS = 9_999_999_999_999;

/** The audit trail of SCIM writes (PartitionKey tenant id, RowKey newest first). */
export class ScimAudit {
  constructor(private readonly table: TableClient) {}

  async record(e: ScimAuditEntry): Promise<void> {
    const rowKey = `${String(MAX_TS - new Date(e.at).getTime()).padStart(13, "0")}-${randomBytes(4).toString("hex")}`;
    try {
      await this.table.createEntity({ partitionKey: e.tenantId, rowKey, at: e.at, tokenId: e.tokenId, operation: e.operation, resource: e.resource, resourceId: e.resourceId, attributes: e.attributes.join(","), status: e.status });
    } catch (x) {
      throw storageError(x, `record a SCIM write of tenant ${e.tenantId}`);
    }
  }

  /** The tenant's SCIM writes, newest first. */
  async list(tenantId: string, limit = 100): Promise<ScimAuditEntry[]> {
    const out: ScimAuditEntry[] = [];
    try {
      for await (const r of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } })) {
        out.push({ tenantId, at: String(r.at), tokenId: String(r.tokenId), operation: String(r.operation), resource: r.resource as "User" | "Group", resourceId: String(r.resourceId), attributes: String(r.attributes ?? "").split(",").filter(Boolean), status: Number(r.status) });
        if (out.length >= limit) break;
      }
    } catch (x) {
      throw storageError(x, `list the SCIM writes of tenant ${tenantId}`);
    }
    return out;
  }
}
