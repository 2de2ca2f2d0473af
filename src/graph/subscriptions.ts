/**
 * Graph's `/subscriptions` (change notifications) for one tenant, as one interface of our own: the notification use
 * cases (src/notifications/) depend on it alone. Microsoft's rules that shape it:
 * - a subscription on `/users` needs the application permission User.Read.All (the least privileged one the
 *   reference lists for the `user` resource);
 * - its lifetime is at most 41,760 minutes (under 29 days) for users and other directory resources; a longer
 *   `expirationDateTime` is refused with 400;
 * - on create (not on renewal) Graph validates `notificationUrl` and `lifecycleNotificationUrl` by POSTing a
 *   `validationToken` that must come back as text/plain within 10 s; a failed validation is a 400 and no subscription.
 */
import type { Client } from "@microsoft/microsoft-graph-client";
import { EntraSyncError } from "../errors.js";
import { classifyGraphError, graphErrorInfo, type TenantRef } from "./errors.js";
import { missingPermissionAdvice } from "./permissions.js";

/** The longest lifetime Graph grants a subscription on users (minutes; Microsoft's subscription-lifetime table). */
export const USERS_SUBSCRIPTION_MAX_MINUTES = 41_760;

export interface NewSubscription {
  notificationUrl: string;
  lifecycleNotificationUrl: string;
  /** Random, ≤ 128 characters; Graph sends it back with every notification. A secret: never logged. */
  clientState: string;
  expirationDateTime: string;
}

/** Graph's subscription, as far as entra-sync reads it (never its clientState). */
export interface SubscriptionInfo {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  expirationDateTime: string;
}

export interface SubscriptionGraph {
  /** Creates the tenant's subscription on `/users` (changeType `updated,deleted`). */
  create(s: NewSubscription): Promise<SubscriptionInfo>;
  /** Renews it (PATCH `expirationDateTime`); undefined when Graph no longer has it (404). */
  renew(id: string, expirationDateTime: string): Promise<SubscriptionInfo | undefined>;
  /** Deletes it; a subscription Graph no longer has counts as deleted. */
  remove(id: string): Promise<void>;
}

/** The resource and change types entra-sync subscribes to: `updated` covers create, update and soft delete of users. */
export const USERS_RESOURCE = "/users";
export const USERS_CHANGE_TYPE = "updated,deleted";

const infoOf = (b: Record<string, unknown>): SubscriptionInfo => ({
  id: String(b.id ?? ""),
  resource: String(b.resource ?? ""),
  changeType: String(b.changeType ?? ""),
  notificationUrl: String(b.notificationUrl ?? ""),
  expirationDateTime: String(b.expirationDateTime ?? ""),
});

/** The SDK adapter: the tenant's Graph client (the same middleware, credential and counters as its runs). */
export class SdkSubscriptionGraph implements SubscriptionGraph {
  constructor(
    private readonly client: Client,
    private readonly tenant: TenantRef,
  ) {}

  async create(s: NewSubscription): Promise<SubscriptionInfo> {
    try {
      const body = { changeType: USERS_CHANGE_TYPE, resource: USERS_RESOURCE, ...s };
      return infoOf((await this.client.api("/subscriptions").post(body)) as Record<string, unknown>);
    } catch (e) {
      throw subscriptionError(e, this.tenant, "create its change notification subscription", s.notificationUrl);
    }
  }

  async renew(id: string, expirationDateTime: string): Promise<SubscriptionInfo | undefined> {
    try {
      return infoOf((await this.client.api(`/subscriptions/${encodeURIComponent(id)}`).patch({ expirationDateTime })) as Record<string, unknown>);
    } catch (e) {
      if (graphErrorInfo(e).status === 404) return undefined;
      throw subscriptionError(e, this.tenant, "renew its change notification subscription");
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.client.api(`/subscriptions/${encodeURIComponent(id)}`).delete();
    } catch (e) {
      if (graphErrorInfo(e).status === 404) return;
      throw subscriptionError(e, this.tenant, "delete its change notification subscription");
    }
  }
}

/**
 * Graph's refusals of a subscription, with what to fix: a notification URL Graph could not validate (unreachable,
 * slow, wrong answer), a lifetime beyond the maximum; consent and transient failures as for any Graph call.
 */
export function subscriptionError(e: unknown, t: TenantRef, what: string, notificationUrl?: string): EntraSyncError {
  const info = graphErrorInfo(e);
  if (info.status === 400) {
    if (/validation/i.test(info.message))
      return new EntraSyncError(
        "SUBSCRIPTION_FAILED",
        `Graph could not validate the notification URL of tenant ${t.tenantId}${notificationUrl ? ` (${notificationUrl})` : ""}: ${info.message} It must be reachable from the internet over HTTPS and answer Graph's validationToken as text/plain within 10 s: check NOTIFICATION_URL and that the app is running.`,
        { cause: e, retryable: true },
      );
    return new EntraSyncError("SUBSCRIPTION_FAILED", `Graph refused to ${what} for tenant ${t.tenantId} (400${info.code ? ` ${info.code}` : ""}: ${info.message}).`, { cause: e, retryable: false });
  }
  if (info.status === 403) {
    const advice = t.cloud ? missingPermissionAdvice({ ...t, cloud: t.cloud }, "User.Read.All") : `Ask the customer's admin to add it to app ${t.clientId} and grant admin consent.`;
    return new EntraSyncError("AUTH_CONSENT_MISSING", `Graph denied app ${t.clientId} in tenant ${t.tenantId} the right to ${what} (403${info.code ? ` ${info.code}` : ""}): a subscription on users needs the Microsoft Graph application permission User.Read.All. ${advice}`, { cause: e, retryable: false });
  }
  return classifyGraphError(e, t, what, "User.Read.All");
}
