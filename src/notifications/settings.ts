import type { Settings } from "../config/settings.js";
import type { TenantRegistry } from "../tenants/registry.js";
import { emptyNotificationState, type NotificationRows, type NotificationState } from "../state/subscriptions.js";
import { readTenantStates } from "../state/tenant-state.js";
import type { TableClients } from "../state/tables-client.js";
import { isHealthy } from "./renewal.js";
import { forgetTenant } from "./receive.js";

/** What an operator sees of a tenant's change notifications (`entra-sync notifications status`). */
export interface NotificationStatus {
  tenantId: string;
  mode: "on" | "off";
  /** `healthy` (notifications flow), `failed` (see lastError), `none` (no subscription yet or off), `expired`. */
  state: "healthy" | "failed" | "none" | "expired";
  subscriptionId: string;
  expiresAt: string;
  lastAttemptAt: string;
  lastError: string;
  lastLifecycleEvent: string;
}

const statusOf = (s: NotificationState, now: Date): NotificationStatus => ({
  tenantId: s.tenantId,
  mode: s.mode,
  state: isHealthy(s, now) ? "healthy" : s.status === "failed" ? "failed" : s.subscriptionId ? "expired" : "none",
  subscriptionId: s.subscriptionId,
  expiresAt: s.expiresAt,
  lastAttemptAt: s.renewedAt,
  lastError: s.lastError,
  lastLifecycleEvent: s.lastLifecycleEvent,
});

/**
 * Switches a tenant's change notifications on or off (the subscription itself is created or deleted by the
 * scheduler's next tick). Returns the tenant's status.
 */
export async function setNotificationMode(app: { notificationRows: NotificationRows; tenants: Pick<TenantRegistry, "require">; clock: () => Date }, tenantId: string, mode: "on" | "off"): Promise<NotificationStatus> {
  const t = await app.tenants.require(tenantId);
  for (;;) {
    const s = (await app.notificationRows.get(t.tenantId)) ?? emptyNotificationState(t.tenantId);
    const etag = await app.notificationRows.write({ ...s, mode });
    if (etag !== undefined) {
      forgetTenant(t.tenantId);
      return statusOf({ ...s, mode, etag }, app.clock());
    }
  }
}

/** Every tenant's (or one tenant's) change notification status, with one query. */
export async function notificationStatuses(app: { tables: Pick<TableClients, "tenantState">; tenants: Pick<TenantRegistry, "listAll">; settings: Pick<Settings, "notifications">; clock: () => Date }, tenantId?: string): Promise<NotificationStatus[]> {
  const [tenants, states] = await Promise.all([app.tenants.listAll(), readTenantStates(app.tables.tenantState, { tenantId, rows: ["notifications"] })]);
  const now = app.clock();
  return tenants.filter((t) => !tenantId || t.tenantId === tenantId).map((t) => statusOf(states.get(t.tenantId)?.notifications ?? emptyNotificationState(t.tenantId), now));
}
