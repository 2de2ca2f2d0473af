import type { Settings } from "../config/settings.js";
import { toEntraSyncError } from "../errors.js";
import type { SubscriptionGraph } from "../graph/subscriptions.js";
import type { Logger } from "../log.js";
import type { ClientSecret, SecretStore } from "../secrets/store.js";
import { emptyNotificationState, type NotificationRows, type NotificationState } from "../state/subscriptions.js";
import { readTenantStates } from "../state/tenant-state.js";
import type { TableClients } from "../state/tables-client.js";
import type { Tenant } from "../tenants/model.js";
import type { TenantRegistry } from "../tenants/registry.js";
import { mapLimit } from "../util/concurrency.js";
import { clientStateMatches, hashClientState, newClientState } from "./client-state.js";
import { expiryFrom, upkeepAction, type UpkeepAction } from "./renewal.js";
import { registerSecretValue } from "../log.js";

/** The HTTP routes (under `/api/`) Graph posts change notifications and lifecycle notifications to. */
export const NOTIFICATION_ROUTE = "notifications/users";
export const LIFECYCLE_ROUTE = "notifications/lifecycle";

/** The adapters the subscription upkeep needs (the App provides them all). */
export interface UpkeepDeps {
  settings: Pick<Settings, "notifications">;
  notificationRows: NotificationRows;
  tenants: Pick<TenantRegistry, "get" | "listAll">;
  secrets: Pick<SecretStore, "get">;
  tables: Pick<TableClients, "tenantState">;
  /** The tenant's Graph subscriptions, signed in with its client secret. */
  subscriptionGraphFor(tenant: Tenant, secret: ClientSecret): SubscriptionGraph;
  clock: () => Date;
  log: Logger;
}

export interface UpkeepResult {
  tenantId: string;
  action: UpkeepAction;
  /** The state after the action. */
  state: NotificationState;
  /** Code and message when the action failed. */
  error?: string;
}

/** Whether a tenant should have a subscription: the app has a notification URL, the tenant is enabled and its setting on. */
export const wantsSubscription = (settings: Pick<Settings, "notifications">, tenant: Tenant | undefined, s: Pick<NotificationState, "mode">): boolean =>
  !!settings.notifications.baseUrl && !!tenant?.enabled && s.mode === "on";

/**
 * Brings one tenant's subscription where it should be (use case per verb: create, renew, recreate, delete): creates
 * it when the tenant wants one and has none, renews it well before it expires or when a lifecycle event asked,
 * recreates it when Graph lost it, deletes it when the tenant is disabled or its setting is off. A failure is stored
 * on the row (status `failed`, retried with backoff) and returned, never thrown.
 */
export async function upkeepTenant(app: UpkeepDeps, tenant: Tenant, current?: NotificationState): Promise<UpkeepResult> {
  const now = app.clock();
  const before = current ?? (await app.notificationRows.get(tenant.tenantId)) ?? emptyNotificationState(tenant.tenantId);
  const action = upkeepAction(before, wantsSubscription(app.settings, tenant, before), now);
  if (action === "none") return { tenantId: tenant.tenantId, action, state: before };
  let next: NotificationState = { ...before };
  let error: string | undefined;
  try {
    const graph = app.subscriptionGraphFor(tenant, await app.secrets.get(tenant.tenantId));
    if (action === "delete") {
      await graph.remove(before.subscriptionId);
      next = { ...next, subscriptionId: "", clientStateHash: "", expiresAt: "", status: "none", renewRequested: "", failures: 0, lastError: "" };
    } else {
      let info = action === "renew" ? await graph.renew(before.subscriptionId, expiryFrom(now)) : undefined;
      if (!info) {
        // create, recreate, or a renewal of a subscription Graph no longer has
        if (before.subscriptionId) await graph.remove(before.subscriptionId).catch(() => undefined);
        const base = app.settings.notifications.baseUrl!;
        const clientState = newClientState();
        registerSecretValue(clientState);
        info = await graph.create({ notificationUrl: `${base}/api/${NOTIFICATION_ROUTE}`, lifecycleNotificationUrl: `${base}/api/${LIFECYCLE_ROUTE}`, clientState, expirationDateTime: expiryFrom(now) });
        next.clientStateHash = hashClientState(clientState);
      }
      next = { ...next, subscriptionId: info.id, expiresAt: info.expirationDateTime || expiryFrom(now), status: "active", renewRequested: "", failures: 0, lastError: "" };
    }
  } catch (e) {
    const err = toEntraSyncError(e);
    error = `${err.code}: ${err.message}`;
    next = { ...next, status: "failed", failures: before.failures + 1, lastError: error };
    app.log.warn(`change notification subscription: ${action} failed: ${err.message}`, { tenantId: tenant.tenantId, code: err.code });
  }
  next.renewedAt = now.toISOString();
  const etag = await app.notificationRows.write(next);
  if (etag === undefined) app.log.warn("change notification state changed meanwhile; the next tick looks again", { tenantId: tenant.tenantId });
  return { tenantId: tenant.tenantId, action, state: { ...next, etag: etag ?? next.etag }, ...(error ? { error } : {}) };
}

export interface UpkeepSummary {
  tenants: number;
  healthy: number;
  done: Record<Exclude<UpkeepAction, "none">, number>;
  failed: number;
  /** Tenants that need an action but wait for a later tick (at most `limit` per tick). */
  deferred: number;
}

/**
 * The subscription upkeep of every tenant, run by the scheduler's tick: one query for every registration and one for
 * every notification row, then at most `limit` actions (most urgent first), `concurrency` at a time. A tenant's
 * failure never stops the others.
 */
export async function upkeepSubscriptions(app: UpkeepDeps, o: { limit?: number; concurrency?: number } = {}): Promise<UpkeepSummary> {
  const now = app.clock();
  const [tenants, states] = await Promise.all([app.tenants.listAll(), readTenantStates(app.tables.tenantState, { rows: ["notifications"] })]);
  const byId = new Map(tenants.map((t) => [t.tenantId, t]));
  const summary: UpkeepSummary = { tenants: tenants.length, healthy: 0, done: { create: 0, renew: 0, recreate: 0, delete: 0 }, failed: 0, deferred: 0 };
  const todo: Array<{ tenant: Tenant; state: NotificationState; action: UpkeepAction }> = [];
  for (const t of tenants) {
    const s = states.get(t.tenantId)?.notifications ?? emptyNotificationState(t.tenantId);
    const action = upkeepAction(s, wantsSubscription(app.settings, t, s), now);
    if (action === "none") {
      if (s.status === "active") summary.healthy++;
    } else todo.push({ tenant: t, state: s, action });
  }
  // Subscriptions of tenants that were removed: nothing to sign in with any more, so only their rows go.
  for (const [tenantId, s] of states) if (!byId.has(tenantId) && s.notifications) await app.notificationRows.delete(tenantId);
  const urgency = (x: (typeof todo)[number]) => (x.action === "delete" ? 0 : x.action === "recreate" ? 1 : x.action === "create" ? 2 : Date.parse(x.state.expiresAt) || 3);
  todo.sort((a, b) => urgency(a) - urgency(b));
  const limit = o.limit ?? 50;
  summary.deferred = Math.max(0, todo.length - limit);
  const results = await mapLimit(todo.slice(0, limit), o.concurrency ?? 8, (x) => upkeepTenant(app, x.tenant, x.state));
  for (const r of results) {
    if (r.error) summary.failed++;
    else if (r.action !== "none") summary.done[r.action]++;
  }
  return summary;
}

/** Whether a received subscription id and clientState are the tenant's (the gate of both notification endpoints). */
export function isOwnSubscription(s: NotificationState | undefined, subscriptionId: unknown, clientState: unknown): boolean {
  if (!s || !s.subscriptionId || typeof subscriptionId !== "string") return false;
  // Evaluated whatever the id: the clientState comparison costs the same for a wrong id.
  const stateOk = clientStateMatches(clientState, s.clientStateHash);
  return stateOk && subscriptionId.toLowerCase() === s.subscriptionId.toLowerCase();
}
