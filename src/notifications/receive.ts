import { z } from "zod";
import type { Settings } from "../config/settings.js";
import { EntraSyncError, toEntraSyncError } from "../errors.js";
import { isActive } from "../runs/lease.js";
import { queueRun, type StartDeps } from "../runs/start.js";
import type { NotificationRows, NotificationState } from "../state/subscriptions.js";
import { isOwnSubscription } from "./upkeep.js";

/*
 * The request path of the two notification endpoints. Graph wants a 2xx within 3 s (slower answers get the endpoint
 * throttled, then notifications dropped), so a batch is only checked (subscription id + clientState) and turned into
 * at most one queued run per tenant; Graph's calls, the delta read and everything else happen in the run.
 */

/** The adapters the endpoints need (the App provides them all). */
export interface ReceiveDeps extends StartDeps {
  settings: Pick<Settings, "notifications">;
  notificationRows: NotificationRows;
}

const notificationSchema = z
  .object({
    subscriptionId: z.string().max(200),
    clientState: z.string().max(1000).optional(),
    tenantId: z.string().max(100).optional(),
    changeType: z.string().max(100).optional(),
    resource: z.string().max(2000).optional(),
    lifecycleEvent: z.string().max(100).optional(),
  })
  .passthrough();
const collectionSchema = z.object({ value: z.array(notificationSchema).max(10_000) }).passthrough();
type Notification = z.infer<typeof notificationSchema>;

/** The longest validation token echoed (Graph's are far shorter); a longer one is refused. */
const MAX_VALIDATION_TOKEN = 4096;

/**
 * Graph's validation handshake: the `validationToken` of the query (already URL-decoded) comes back as the body of a
 * 200 text/plain answer; undefined when the request carries none.
 */
export function validationAnswer(token: string | null | undefined): { status: number; text: string; headers: Record<string, string> } | undefined {
  if (token === null || token === undefined) return undefined;
  if (token.length === 0 || token.length > MAX_VALIDATION_TOKEN) return { status: 400, text: `validationToken must be 1 to ${MAX_VALIDATION_TOKEN} characters.`, headers: { "Content-Type": "text/plain; charset=utf-8" } };
  return { status: 200, text: token, headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" } };
}

function parseCollection(bodyText: string): Notification[] {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    throw new EntraSyncError("INPUT_INVALID", "The body is not JSON: a change notification collection {\"value\":[…]} is expected.", { retryable: false, field: "body" });
  }
  const r = collectionSchema.safeParse(json);
  if (!r.success) throw new EntraSyncError("INPUT_INVALID", `The body is not a change notification collection: ${r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}.`, { retryable: false, field: "body" });
  return r.data.value;
}

export interface ReceiveResult {
  /** Notifications whose subscription id and clientState matched a tenant's subscription. */
  accepted: number;
  /** Notifications ignored: unknown subscription, wrong clientState, tenant disabled or its setting off. */
  ignored: number;
  /** Per tenant: `queued` (a new run), `waiting` (a queued run will read the change), `pending` (a run under way is followed by another), `skipped`. */
  tenants: Record<string, "queued" | "waiting" | "pending" | "skipped">;
}

/**
 * Recent verifications and enqueues of this process: within a coalescing window a burst costs no storage read at all.
 * Entries live a few seconds; a subscription recreated meanwhile misses the cache and is read again.
 */
class RecentTenants {
  private readonly states = new Map<string, { state: NotificationState; at: number }>();
  private readonly enqueued = new Map<string, number>();
  constructor(private readonly ttlMs: number) {}
  state(tenantId: string, now: number): NotificationState | undefined {
    const e = this.states.get(tenantId);
    return e && now - e.at < this.ttlMs ? e.state : undefined;
  }
  remember(s: NotificationState, now: number): void {
    if (this.states.size > 50_000) this.states.clear();
    this.states.set(s.tenantId, { state: s, at: now });
  }
  forget(tenantId: string): void {
    this.states.delete(tenantId);
    this.enqueued.delete(tenantId);
  }
  enqueuedRecently(tenantId: string, now: number, windowMs: number): boolean {
    const at = this.enqueued.get(tenantId);
    return at !== undefined && now - at < windowMs;
  }
  markEnqueued(tenantId: string, now: number): void {
    if (this.enqueued.size > 50_000) this.enqueued.clear();
    this.enqueued.set(tenantId, now);
  }
}
const recent = new RecentTenants(30_000);

/** Forgets what this process remembers of a tenant (its subscription changed). */
export const forgetTenant = (tenantId: string): void => recent.forget(tenantId);

async function verified(app: ReceiveDeps, items: Notification[], now: number): Promise<{ byTenant: Map<string, Notification[]>; ignored: number }> {
  const byTenant = new Map<string, Notification[]>();
  let ignored = 0;
  const groups = new Map<string, Notification[]>();
  for (const n of items) {
    const t = (n.tenantId ?? "").toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t)) {
      ignored++;
      continue;
    }
    groups.set(t, [...(groups.get(t) ?? []), n]);
  }
  for (const [tenantId, list] of groups) {
    let state = recent.state(tenantId, now);
    let ok = list.filter((n) => isOwnSubscription(state, n.subscriptionId, n.clientState));
    if (ok.length < list.length) {
      // Not cached, or cached before the subscription was recreated: read the row.
      state = await app.notificationRows.get(tenantId);
      if (state) recent.remember(state, now);
      ok = list.filter((n) => isOwnSubscription(state, n.subscriptionId, n.clientState));
    }
    ignored += list.length - ok.length;
    if (ok.length && state?.mode === "on") byTenant.set(tenantId, ok);
    else ignored += ok.length;
  }
  return { byTenant, ignored };
}

/**
 * Starts at most one run for a tenant that changed. A run queued but not started yet reads the change anyway; a run
 * under way may have read past it, so it is marked to be followed by one more (src/notifications/follow-up.ts). A
 * new run waits NOTIFY_COALESCE_SECONDS in the queue, so the rest of a burst finds it queued.
 */
export async function requestNotifiedRun(app: ReceiveDeps, tenantId: string): Promise<ReceiveResult["tenants"][string]> {
  const now = app.clock();
  const windowMs = app.settings.notifications.coalesceSeconds * 1000;
  if (recent.enqueuedRecently(tenantId, now.getTime(), windowMs)) return "waiting";
  const tenant = await app.tenants.get(tenantId);
  if (!tenant?.enabled) return "skipped";
  const lease = await app.leases.get(tenantId);
  if (isActive(lease, now)) {
    if (lease!.owner || lease!.continuation > 0) {
      await app.notificationRows.markPending(tenantId, now.toISOString());
      return "pending";
    }
    return "waiting";
  }
  try {
    await queueRun(app, { tenantId, trigger: "notification", mode: "incremental", dryRun: false }, { tenant, current: lease ?? null, delaySeconds: app.settings.notifications.coalesceSeconds });
    recent.markEnqueued(tenantId, now.getTime());
    return "queued";
  } catch (e) {
    const err = toEntraSyncError(e);
    if (err.code === "RUN_IN_PROGRESS") return "waiting";
    if (err.code === "RUN_HELD") return "skipped"; // the mass-change guard's hold waits for an operator, not for Graph
    throw err;
  }
}

/**
 * A batch of change notifications (`POST /api/notifications/users`): checks each against its tenant's subscription
 * (id and clientState, constant time) and queues at most one run per tenant. Throws INPUT_INVALID for a body that is
 * not a notification collection; a storage failure is thrown too (the endpoint answers 5xx, so Graph retries).
 */
export async function receiveNotifications(app: ReceiveDeps, bodyText: string): Promise<ReceiveResult> {
  const now = app.clock().getTime();
  const items = parseCollection(bodyText);
  const { byTenant, ignored } = await verified(app, items, now);
  const result: ReceiveResult = { accepted: 0, ignored, tenants: {} };
  for (const list of byTenant.values()) result.accepted += list.length;
  const entries = [...byTenant.keys()];
  const outcomes = await Promise.all(entries.map((t) => requestNotifiedRun(app, t)));
  entries.forEach((t, i) => (result.tenants[t] = outcomes[i]!));
  if (ignored) app.log.warn(`change notifications: ${ignored} ignored (unknown subscription, wrong clientState, or tenant off)`, { accepted: result.accepted });
  return result;
}

export interface LifecycleResult {
  accepted: number;
  ignored: number;
  /** Per tenant, the events acted on. */
  events: Record<string, string[]>;
}

/**
 * A batch of lifecycle notifications (`POST /api/notifications/lifecycle`), each checked as a change notification is:
 * `reauthorizationRequired` → the subscription is renewed at the scheduler's next tick; `subscriptionRemoved` → it is
 * recreated then, and a run starts now (changes may have been missed); `missed` → a run starts now.
 */
export async function receiveLifecycleNotifications(app: ReceiveDeps, bodyText: string): Promise<LifecycleResult> {
  const now = app.clock();
  const items = parseCollection(bodyText);
  const { byTenant, ignored } = await verified(app, items, now.getTime());
  const result: LifecycleResult = { accepted: 0, ignored, events: {} };
  for (const [tenantId, list] of byTenant) {
    const events = [...new Set(list.map((n) => n.lifecycleEvent ?? ""))].filter((e) => ["reauthorizationRequired", "subscriptionRemoved", "missed"].includes(e));
    result.ignored += list.length - list.filter((n) => events.includes(n.lifecycleEvent ?? "")).length;
    if (!events.length) continue;
    result.accepted += list.length;
    result.events[tenantId] = events;
    const renew = events.includes("subscriptionRemoved") ? "recreate" : events.includes("reauthorizationRequired") ? "renew" : "";
    const state = await app.notificationRows.get(tenantId);
    if (state) {
      const next: NotificationState = { ...state, lastLifecycleEvent: `${events.join(",")}@${now.toISOString()}`, ...(renew && state.renewRequested !== "recreate" ? { renewRequested: renew } : {}) };
      // A lost race (the upkeep renewed meanwhile) is harmless: the event is about a subscription that was just looked after.
      await app.notificationRows.write(next);
      forgetTenant(tenantId);
    }
    if (events.includes("subscriptionRemoved") || events.includes("missed")) await requestNotifiedRun(app, tenantId);
  }
  return result;
}
