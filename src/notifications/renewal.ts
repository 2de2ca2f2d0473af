import { USERS_SUBSCRIPTION_MAX_MINUTES } from "../graph/subscriptions.js";
import type { NotificationState } from "../state/subscriptions.js";

/*
 * When a tenant's subscription is created, renewed and retried. One rule, used by the upkeep and by the bench's cost
 * figure.
 */

/** Lifetime asked for: Graph's maximum for users less an hour, so that clock skew never makes Graph refuse it. */
export const SUBSCRIPTION_LIFETIME_MS = (USERS_SUBSCRIPTION_MAX_MINUTES - 60) * 60_000;
/** A subscription is renewed once less than this is left (7 days: a week of failed renewals is survived). */
export const RENEW_BEFORE_MS = 7 * 86_400_000;
/** After a failed create or renewal, the next try waits 5 min × 2^(failures − 1), at most 6 h. */
export const retryDelayMs = (failures: number): number => Math.min(6 * 3_600_000, 5 * 60_000 * 2 ** Math.max(0, failures - 1));

/** The expiry to ask Graph for at `now`. */
export const expiryFrom = (now: Date): string => new Date(now.getTime() + SUBSCRIPTION_LIFETIME_MS).toISOString();

/** Renewals per day of `subscriptions` healthy subscriptions under this rule (each renewed every lifetime − renew-before). */
export const renewalsPerDay = (subscriptions: number): number => (subscriptions * 86_400_000) / (SUBSCRIPTION_LIFETIME_MS - RENEW_BEFORE_MS);

export type UpkeepAction = "create" | "renew" | "recreate" | "delete" | "none";

/**
 * What the upkeep does for a tenant now: `wanted` says whether the tenant should have a subscription (enabled, its
 * setting on, NOTIFICATION_URL set).
 */
export function upkeepAction(s: NotificationState, wanted: boolean, now: Date): UpkeepAction {
  const t = now.getTime();
  if (!wanted) return s.subscriptionId ? "delete" : "none";
  if (s.status === "failed" && s.failures > 0 && s.renewedAt && Date.parse(s.renewedAt) + retryDelayMs(s.failures) > t) return "none";
  if (!s.subscriptionId) return "create";
  const expires = Date.parse(s.expiresAt);
  if (s.renewRequested === "recreate" || !Number.isFinite(expires) || expires <= t) return "recreate";
  if (s.renewRequested === "renew" || expires - t < RENEW_BEFORE_MS) return "renew";
  return "none";
}

/** A subscription that Graph holds and that has not expired: the tenant's notifications flow. */
export const isHealthy = (s: NotificationState | undefined, now: Date): boolean =>
  !!s && s.mode === "on" && s.status === "active" && !!s.subscriptionId && Date.parse(s.expiresAt) > now.getTime();
