import type { TableClient, TransactionAction } from "@azure/data-tables";
import { odata } from "@azure/data-tables";
import type { GraphUser } from "../graph/users.js";
import { chunk, mapLimit } from "../util/concurrency.js";
import { getOrUndefined, storageError } from "../state/tables-client.js";

/** How many partitions a tenant's connector space is spread over (each takes ~2,000 writes/s in Azure). */
export const CONNECTOR_SHARDS = 4;

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
}

export function shardOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % CONNECTOR_SHARDS;
}
const pk = (tenantId: string, id: string) => `${tenantId}_${shardOf(id)}`;

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
  return e;
}

function fromEntity(e: Entity): ConnectorRow {
  return {
    id: e.rowKey,
    user: JSON.parse(e.user) as GraphUser,
    removed: e.removed as ConnectorRow["removed"],
    removedAt: e.removedAt,
    platformUserId: e.platformUserId,
    match: e.match as ConnectorRow["match"],
    seenAt: e.seenAt,
    upnSwitch: e.upnSwitch ? (JSON.parse(e.upnSwitch) as ConnectorRow["upnSwitch"]) : undefined,
  };
}

/** The connector space in Table Storage: one row per Entra user per tenant, spread over a few partitions. */
export class ConnectorSpace {
  /** Table transactions sent (for the benchmark of batching). */
  transactions = 0;
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string, id: string): Promise<ConnectorRow | undefined> {
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

  /** Writes rows (upsert, replace) in transactions of up to 100 per partition. Re-writing a row is harmless. */
  async putMany(tenantId: string, rows: readonly ConnectorRow[]): Promise<void> {
    const byPartition = new Map<string, Entity[]>();
    const last = new Map<string, ConnectorRow>();
    for (const r of rows) last.set(r.id, r); // a user twice on one page: the later state wins
    for (const r of last.values()) {
      const e = toEntity(tenantId, r);
      const list = byPartition.get(e.partitionKey) ?? [];
      list.push(e);
      byPartition.set(e.partitionKey, list);
    }
    const batches = [...byPartition.values()].flatMap((list) => chunk(list, 100));
    await mapLimit(batches, 8, async (batch) => {
      const actions: TransactionAction[] = batch.map((e) => ["upsert", e as unknown as Record<string, unknown> & { partitionKey: string; rowKey: string }, "Replace"]);
      try {
        this.transactions++;
        await this.table.submitTransaction(actions);
      } catch (e) {
        throw storageError(e, `write ${batch.length} connector-space rows of tenant ${tenantId}`);
      }
    });
  }

  /** Every row of a tenant (all partitions), page by page. */
  async *list(tenantId: string): AsyncIterable<ConnectorRow> {
    for (let s = 0; s < CONNECTOR_SHARDS; s++) {
      const it = this.table.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${`${tenantId}_${s}`}` } });
      for await (const e of it) yield fromEntity(e as Entity);
    }
  }

  /** True when the tenant has no row yet (first sync: reads of prior state can be skipped). */
  async isEmpty(tenantId: string): Promise<boolean> {
    for (let s = 0; s < CONNECTOR_SHARDS; s++) {
      const it = this.table.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${`${tenantId}_${s}`}`, select: ["RowKey"] } }).byPage({ maxPageSize: 1 });
      for await (const page of it) {
        if (page.length > 0) return false;
        break;
      }
    }
    return true;
  }
}
