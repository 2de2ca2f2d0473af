import { describe, expect, it } from "vitest";
import { clientStateMatches, hashClientState, newClientState } from "../../src/notifications/client-state.js";
import { expiryFrom, isHealthy, RENEW_BEFORE_MS, renewalsPerDay, retryDelayMs, SUBSCRIPTION_LIFETIME_MS, upkeepAction } from "../../src/notifications/renewal.js";
import { USERS_SUBSCRIPTION_MAX_MINUTES } from "../../src/graph/subscriptions.js";
import { scheduledIntervalMinutes } from "../../src/runs/scheduler.js";
import { emptyNotificationState, type NotificationState } from "../../src/state/subscriptions.js";

const now = new Date("2026-11-30T12:00:00Z");
const active = (o: Partial<NotificationState> = {}): NotificationState => ({ ...emptyNotificationState("t"), subscriptionId: "s", clientStateHash: hashClientState("c"), status: "active", expiresAt: expiryFrom(now), renewedAt: now.toISOString(), ...o });
const at = (ms: number) => new Date(now.getTime() + ms);

describe("the clientState", () => {
  it("is random, within Graph's 128 characters, and matches only its own hash", () => {
    const a = newClientState();
    expect(a).not.toBe(newClientState());
    expect(a.length).toBeLessThanOrEqual(128);
    expect(clientStateMatches(a, hashClientState(a))).toBe(true);
    expect(clientStateMatches(`${a}x`, hashClientState(a))).toBe(false);
    expect(clientStateMatches(undefined, hashClientState(a))).toBe(false);
    expect(clientStateMatches(a, "")).toBe(false);
  });
});

describe("the renewal rule", () => {
  it("asks for Graph's maximum lifetime for users less an hour", () => {
    expect(Date.parse(expiryFrom(now)) - now.getTime()).toBe((USERS_SUBSCRIPTION_MAX_MINUTES - 60) * 60_000);
  });

  it("creates when missing, renews within a week of expiry or when asked, recreates when expired or removed, deletes when unwanted", () => {
    expect(upkeepAction(emptyNotificationState("t"), true, now)).toBe("create");
    expect(upkeepAction(emptyNotificationState("t"), false, now)).toBe("none");
    expect(upkeepAction(active(), true, now)).toBe("none");
    expect(upkeepAction(active(), true, at(SUBSCRIPTION_LIFETIME_MS - RENEW_BEFORE_MS - 60_000))).toBe("none");
    expect(upkeepAction(active(), true, at(SUBSCRIPTION_LIFETIME_MS - RENEW_BEFORE_MS + 60_000))).toBe("renew");
    expect(upkeepAction(active({ renewRequested: "renew" }), true, now)).toBe("renew");
    expect(upkeepAction(active({ renewRequested: "recreate" }), true, now)).toBe("recreate");
    expect(upkeepAction(active(), true, at(SUBSCRIPTION_LIFETIME_MS + 1))).toBe("recreate");
    expect(upkeepAction(active(), false, now)).toBe("delete");
  });

  it("waits after failures, longer each time, at most 6 h", () => {
    const failed = active({ subscriptionId: "", status: "failed", failures: 3 });
    expect(upkeepAction(failed, true, at(retryDelayMs(3) - 1000))).toBe("none");
    expect(upkeepAction(failed, true, at(retryDelayMs(3) + 1000))).toBe("create");
    expect(retryDelayMs(2)).toBeGreaterThan(retryDelayMs(1));
    expect(retryDelayMs(50)).toBe(6 * 3_600_000);
  });

  it("costs 5,000 subscriptions about 228 renewals a day", () => {
    const perDay = renewalsPerDay(5000);
    expect(perDay).toBeCloseTo((5000 * 1440) / (USERS_SUBSCRIPTION_MAX_MINUTES - 60 - 7 * 1440), 6);
  });

  it("lengthens a tenant's scheduled interval only while its subscription is healthy", () => {
    const tenant = { syncIntervalMinutes: 5 };
    expect(scheduledIntervalMinutes(tenant, { notifications: active() }, now, 60)).toBe(60);
    expect(scheduledIntervalMinutes(tenant, { notifications: active() }, now, 0)).toBe(5);
    expect(scheduledIntervalMinutes(tenant, { notifications: active({ status: "failed" }) }, now, 60)).toBe(5);
    expect(scheduledIntervalMinutes(tenant, { notifications: active({ mode: "off" }) }, now, 60)).toBe(5);
    expect(scheduledIntervalMinutes(tenant, {}, now, 60)).toBe(5);
    expect(scheduledIntervalMinutes({ syncIntervalMinutes: 120 }, { notifications: active() }, now, 60)).toBe(120);
    expect(isHealthy(active(), at(SUBSCRIPTION_LIFETIME_MS + 1))).toBe(false);
  });
});
