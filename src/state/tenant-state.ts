import { odata, type TableClient } from "@azure/data-tables";
import { CHECKPOINT_ROWS, checkpointFromEntity, type Checkpoint } from "./checkpoints.js";
import { HEALTH_ROW, healthFromEntity, type TenantHealth } from "./health.js";
import { LEASE_ROW, leaseFromEntity, type Lease } from "./leases.js";
import { SECRET_ROW, secretFactsFromEntity, type SecretFacts } from "./secret-facts.js";
import { NOTIFICATIONS_ROW, notificationStateFromEntity, type NotificationState } from "./subscriptions.js";
import { storageError } from "./tables-client.js";

/**
 * The `tenantstate` table: per-tenant operational state, PartitionKey = tenant id. Its rows, each with one owner here:
 *
 * | RowKey | what | format and store |
 * | --- | --- | --- |
 * | `checkpoint`, `checkpoint-dryrun` | the delta position (of a dry run under way) | `data` = JSON; `./checkpoints.ts` |
 * | `lease` | the one-run-per-tenant lease and when the next scheduled run is due | columns; `./leases.ts` |
 * | `health` | failures, backoff, quarantine | `data` = JSON, `quarantined`; `./health.ts` |
 * | `secret` | what is known about the client secret (never its value) | columns; `./secret-facts.ts` |
 * | `notifications` | the Graph change notification subscription (clientState as a hash only) and its setting | columns; `./subscriptions.ts` |
 * | `writebudget-<clientId>` | Graph's shared write budget of the tenant's app | `fullAt`; src/graph/write-budget.ts (the pacing and its row together) |
 *
 * One partition is not a tenant's: `!fullreads` holds the full-read slots and their waiting line of the storage
 * account (`./full-read-slots.ts`; the admission policy is src/runs/admission.ts). Nor is `!holds`: the runs the
 * mass-change guard held, by run id, with their tenant (src/runs/hold-index.ts).
 *
 * What the rows mean is decided elsewhere: the lease's rules and the health policy in src/runs/, the secret facts in
 * src/expiry/. `readTenantStates` reads several kinds of row of every tenant (or one) in one query.
 */
export const TENANT_STATE_ROWS = { checkpoint: CHECKPOINT_ROWS.main, lease: LEASE_ROW, health: HEALTH_ROW, secret: SECRET_ROW, notifications: NOTIFICATIONS_ROW } as const;
export type TenantStateRow = keyof typeof TENANT_STATE_ROWS;

/** The typed state rows of one tenant (absent: no such row). */
export interface TenantState {
  checkpoint?: Checkpoint | undefined;
  lease?: Lease | undefined;
  health?: TenantHealth | undefined;
  secret?: SecretFacts | undefined;
  notifications?: NotificationState | undefined;
}

/**
 * Adds one row got from a scan of the table to its tenant's state; rows of other kinds are ignored. A checkpoint or
 * health row that cannot be read counts as absent (health: empty), as a point read treats it.
 */
export function addTenantStateRow(states: Map<string, TenantState>, e: Record<string, unknown>): void {
  const pk = String(e.partitionKey);
  const s = states.get(pk) ?? {};
  switch (e.rowKey) {
    case LEASE_ROW:
      s.lease = leaseFromEntity(e);
      break;
    case HEALTH_ROW:
      s.health = healthFromEntity({ partitionKey: pk, data: e.data });
      break;
    case SECRET_ROW:
      s.secret = secretFactsFromEntity(e);
      break;
    case NOTIFICATIONS_ROW:
      s.notifications = notificationStateFromEntity(e);
      break;
    case CHECKPOINT_ROWS.main:
      try {
        s.checkpoint = checkpointFromEntity(e);
      } catch {
        s.checkpoint = undefined;
      }
      break;
    default:
      return;
  }
  states.set(pk, s);
}

/**
 * Reads the given kinds of row (default: lease, health, secret) of every tenant with one query, or of one tenant with
 * a partition query, page by page.
 */
export async function readTenantStates(table: TableClient, o: { tenantId?: string | undefined; rows?: readonly TenantStateRow[] } = {}): Promise<Map<string, TenantState>> {
  const out = new Map<string, TenantState>();
  const rowFilter = (o.rows ?? (["lease", "health", "secret"] as const)).map((r) => odata`RowKey eq ${TENANT_STATE_ROWS[r]}`).join(" or ");
  const filter = o.tenantId ? `${odata`PartitionKey eq ${o.tenantId}`} and (${rowFilter})` : rowFilter;
  try {
    for await (const page of table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 })) {
      for (const e of page) addTenantStateRow(out, e);
    }
  } catch (e) {
    throw storageError(e, "read the state of the tenants");
  }
  return out;
}
