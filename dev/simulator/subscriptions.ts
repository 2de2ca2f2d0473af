/**
 * Graph change notifications for users: `/v1.0/subscriptions` (POST, GET, PATCH, DELETE) and the delivery of
 * notifications and lifecycle events to the subscriber's endpoints, by Microsoft's documentation:
 * - creating needs a permission that reads users (User.Read.All or higher, application); resource `/users`;
 *   changeType a comma list of created/updated/deleted; clientState at most 128 characters; expirationDateTime
 *   required and at most 41,760 minutes ahead (400 ExtensionError "Subscription expiration can only be 41760 minutes
 *   in the future." beyond); notificationUrl (and lifecycleNotificationUrl) HTTPS — plain http is accepted for
 *   loopback hosts only, the one liberty taken, so that the local stack's HTTP host can receive them;
 * - on create Graph POSTs `?validationToken=…` (text/plain) to each URL and wants 200, text/plain, the token as the
 *   body within 10 s; otherwise 400 InvalidRequest "Subscription validation request failed…" and no subscription;
 * - renewing (PATCH expirationDateTime) does not validate again; an unknown or expired subscription is 404;
 * - a subscription past its expirationDateTime is deleted by Graph and sends nothing more;
 * - notifications are batched POSTs of `{ value: [changeNotification…] }` with subscriptionId, clientState, tenantId,
 *   changeType, resource `Users/{id}` and resourceData (id only); `updated` covers create, update, soft delete and
 *   restore of users, `deleted` their permanent deletion. A 2xx within 3 s is a delivery.
 */
import { guid } from "./util.js";
import { json, parseJsonBody, bearer, type SimRequest, type SimResponse } from "./http.js";
import type { TokenRegistry } from "./entra.js";
import type { Store } from "./store.js";

export const USERS_SUBSCRIPTION_MAX_MINUTES = 41_760;
const READ_USERS = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
const CHANGE_TYPES = new Set(["created", "updated", "deleted"]);

export interface SimSubscription {
  id: string;
  tenantId: string;
  appId: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | undefined;
  clientState: string | undefined;
  expirationDateTime: string;
}

export interface DeliveryStats {
  /** POSTs of notification batches sent (lifecycle ones included). */
  posts: number;
  /** Notifications sent. */
  notifications: number;
  /** Notifications dropped by the drop switch. */
  dropped: number;
  /** POSTs that got no 2xx within the timeout. */
  failed: number;
  /** Validation requests sent. */
  validations: number;
}

export interface SubscriptionKnobs {
  /** How long the subscriber has to answer a validation request (Graph: 10 s). */
  validationTimeoutMs: number;
  /** How long notifications are gathered into one POST (default 200 ms). */
  batchMs: number;
  /** Notifications per POST at most. */
  maxBatch: number;
  /** When true, change notifications are not delivered (lost), as Graph may drop them. */
  drop: boolean;
}

export class Subscriptions {
  private readonly subs = new Map<string, SimSubscription>();
  private readonly pending = new Map<string, Array<Record<string, unknown>>>();
  private timer: NodeJS.Timeout | undefined;
  private inflight = new Set<Promise<void>>();
  readonly knobs: SubscriptionKnobs = { validationTimeoutMs: 10_000, batchMs: 200, maxBatch: 1000, drop: false };
  stats: DeliveryStats = { posts: 0, notifications: 0, dropped: 0, failed: 0, validations: 0 };

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenRegistry,
    private readonly now: () => number,
  ) {}

  static handles(pathname: string): boolean {
    return /^\/v1\.0\/subscriptions(\/|$)/i.test(pathname);
  }

  private err(status: number, code: string, message: string): SimResponse {
    return json(status, { error: { code, message, innerError: { date: new Date().toISOString(), "request-id": guid() } } });
  }

  /** Subscriptions past their expiry are gone, as Graph deletes them. */
  private live(): SimSubscription[] {
    const t = this.now();
    for (const [id, s] of this.subs) if (Date.parse(s.expirationDateTime) <= t) this.subs.delete(id);
    return [...this.subs.values()];
  }

  private view(s: SimSubscription): Record<string, unknown> {
    return {
      "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
      id: s.id,
      resource: s.resource,
      applicationId: s.appId,
      changeType: s.changeType,
      clientState: s.clientState ?? null,
      notificationUrl: s.notificationUrl,
      lifecycleNotificationUrl: s.lifecycleNotificationUrl ?? null,
      expirationDateTime: s.expirationDateTime,
      creatorId: s.appId,
      latestSupportedTlsVersion: "v1_2",
      notificationContentType: "application/json",
    };
  }

  private badUrl(name: string, value: unknown): SimResponse | undefined {
    if (typeof value !== "string" || !URL.canParse(value)) return this.err(400, "InvalidRequest", `${name} is not a valid URL.`);
    const u = new URL(value);
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
    if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) return this.err(400, "InvalidRequest", `${name} must be an https URL.`);
    return undefined;
  }

  private tooLong(expiration: string): SimResponse | undefined {
    const ms = Date.parse(expiration);
    if (!Number.isFinite(ms)) return this.err(400, "InvalidRequest", "expirationDateTime is not a valid date.");
    if (ms <= this.now()) return this.err(400, "ExtensionError", "Subscription expiration must be in the future.");
    if (ms - this.now() > USERS_SUBSCRIPTION_MAX_MINUTES * 60_000) return this.err(400, "ExtensionError", `Subscription expiration can only be ${USERS_SUBSCRIPTION_MAX_MINUTES} minutes in the future.`);
    return undefined;
  }

  /** POSTs `?validationToken=` and checks the answer: 200, text/plain, the token, within the deadline. */
  private async validate(url: string): Promise<boolean> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${guid()}`;
    const target = new URL(url);
    target.searchParams.set("validationToken", token);
    this.stats.validations++;
    try {
      const r = await fetch(target, { method: "POST", headers: { "content-type": "text/plain; charset=utf-8" }, body: "", signal: AbortSignal.timeout(this.knobs.validationTimeoutMs) });
      const text = await r.text();
      return r.status === 200 && /^text\/plain\b/i.test(r.headers.get("content-type") ?? "") && text === token;
    } catch {
      return false;
    }
  }

  async handle(req: SimRequest): Promise<SimResponse> {
    const tok = bearer(req.headers);
    const t = tok ? this.tokens.validate(tok) : undefined;
    if (!t || t === "expired" || t.aud === "https://vault.azure.net") return this.err(401, "InvalidAuthenticationToken", "Access token validation failure.");
    const tenant = this.store.tenants.get(t.tid);
    if (!tenant) return this.err(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.");
    const segs = req.url.pathname.split("/").filter(Boolean).slice(2);
    const id = segs[0];
    const mine = (s: SimSubscription | undefined) => (s && s.tenantId === tenant.id && s.appId === t.appid ? s : undefined);
    const out = await this.route(req, t.tid, t.appid, t.roles ?? [], id, mine);
    out.tenantId = tenant.id;
    return out;
  }

  private async route(req: SimRequest, tenantId: string, appId: string, roles: string[], id: string | undefined, mine: (s: SimSubscription | undefined) => SimSubscription | undefined): Promise<SimResponse> {
    this.live();
    if (id === undefined) {
      if (req.method === "GET") return json(200, { value: [...this.subs.values()].filter((s) => mine(s)).map((s) => this.view(s)) });
      if (req.method !== "POST") return this.err(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
      const parsed = parseJsonBody(req.bodyText);
      if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null) return this.err(400, "InvalidRequest", "The request body must be a subscription.");
      const b = parsed.value as Record<string, unknown>;
      const resource = String(b.resource ?? "").replace(/^\//, "");
      if (resource.toLowerCase() !== "users") return this.err(400, "InvalidRequest", `Resource '${String(b.resource)}' is not supported by this simulator (only /users).`);
      // Creating a subscription needs read access to the resource: for users, User.Read.All or higher.
      if (!roles.some((r) => READ_USERS.includes(r))) return this.err(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Insufficient privileges to complete the operation.]");
      const types = String(b.changeType ?? "").split(",").map((s) => s.trim());
      if (!types.length || types.some((x) => !CHANGE_TYPES.has(x))) return this.err(400, "InvalidRequest", "changeType must be a comma-separated list of created, updated, deleted.");
      if (b.clientState !== undefined && (typeof b.clientState !== "string" || b.clientState.length > 128)) return this.err(400, "InvalidRequest", "clientState must be a string of at most 128 characters.");
      const urlProblem = this.badUrl("notificationUrl", b.notificationUrl) ?? (b.lifecycleNotificationUrl !== undefined ? this.badUrl("lifecycleNotificationUrl", b.lifecycleNotificationUrl) : undefined);
      if (urlProblem) return urlProblem;
      const expiry = this.tooLong(String(b.expirationDateTime ?? ""));
      if (expiry) return expiry;
      const urls = [String(b.notificationUrl), ...(b.lifecycleNotificationUrl !== undefined ? [String(b.lifecycleNotificationUrl)] : [])];
      for (const u of urls) {
        if (!(await this.validate(u))) return this.err(400, "InvalidRequest", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.");
      }
      const s: SimSubscription = {
        id: guid(),
        tenantId,
        appId,
        resource: String(b.resource),
        changeType: types.join(","),
        notificationUrl: String(b.notificationUrl),
        lifecycleNotificationUrl: b.lifecycleNotificationUrl === undefined ? undefined : String(b.lifecycleNotificationUrl),
        clientState: b.clientState as string | undefined,
        expirationDateTime: new Date(Date.parse(String(b.expirationDateTime))).toISOString(),
      };
      this.subs.set(s.id, s);
      return json(201, this.view(s));
    }
    const s = mine(this.subs.get(id));
    if (!s) return this.err(404, "ResourceNotFound", `The object was not found.`);
    if (req.method === "GET") return json(200, this.view(s));
    if (req.method === "DELETE") {
      this.subs.delete(s.id);
      return { status: 204, headers: {} };
    }
    if (req.method === "PATCH") {
      const parsed = parseJsonBody(req.bodyText);
      const b = (parsed.ok && typeof parsed.value === "object" && parsed.value ? parsed.value : {}) as Record<string, unknown>;
      if (b.expirationDateTime === undefined) return this.err(400, "InvalidRequest", "expirationDateTime is required to renew a subscription.");
      const expiry = this.tooLong(String(b.expirationDateTime));
      if (expiry) return expiry;
      s.expirationDateTime = new Date(Date.parse(String(b.expirationDateTime))).toISOString();
      return json(200, this.view(s));
    }
    return this.err(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
  }

  /** A user of a tenant changed: one change notification per live subscription of the tenant that asked for the change type. */
  onUserChange(tenantId: string, userId: string, changeType: "updated" | "deleted"): void {
    for (const s of this.live()) {
      if (s.tenantId !== tenantId || !s.changeType.split(",").includes(changeType)) continue;
      if (this.knobs.drop) {
        this.stats.dropped++;
        continue;
      }
      const n = {
        id: guid(),
        subscriptionId: s.id,
        subscriptionExpirationDateTime: s.expirationDateTime,
        changeType,
        resource: `Users/${userId}`,
        resourceData: { "@odata.type": "#Microsoft.Graph.User", "@odata.id": `Users/${userId}`, id: userId, organizationId: tenantId },
        clientState: s.clientState ?? null,
        tenantId,
      };
      this.queue(s.notificationUrl, n);
    }
  }

  /** Sends a lifecycle notification of one subscription (reauthorizationRequired, subscriptionRemoved, missed). */
  async sendLifecycle(subscriptionId: string, event: "reauthorizationRequired" | "subscriptionRemoved" | "missed"): Promise<number> {
    const s = this.subs.get(subscriptionId);
    if (!s) throw new Error(`sendLifecycle: unknown subscription ${subscriptionId}`);
    if (!s.lifecycleNotificationUrl) throw new Error(`sendLifecycle: subscription ${subscriptionId} has no lifecycleNotificationUrl`);
    if (event === "subscriptionRemoved") this.subs.delete(subscriptionId);
    const n = { subscriptionId: s.id, subscriptionExpirationDateTime: s.expirationDateTime, tenantId: s.tenantId, clientState: s.clientState ?? null, lifecycleEvent: event };
    return this.post(s.lifecycleNotificationUrl, [n]);
  }

  /** Removes a subscription as Graph does when it expires or loses it, without telling anyone. */
  expire(subscriptionId: string): void {
    if (!this.subs.delete(subscriptionId)) throw new Error(`expireSubscription: unknown subscription ${subscriptionId}`);
  }

  list(tenantId?: string): SimSubscription[] {
    return this.live()
      .filter((s) => !tenantId || s.tenantId === tenantId)
      .map((s) => ({ ...s }));
  }

  private queue(url: string, n: Record<string, unknown>): void {
    const list = this.pending.get(url) ?? [];
    list.push(n);
    this.pending.set(url, list);
    this.timer ??= setTimeout(() => this.flush(), this.knobs.batchMs);
  }

  private flush(): void {
    this.timer = undefined;
    const all = [...this.pending];
    this.pending.clear();
    for (const [url, list] of all) {
      for (let i = 0; i < list.length; i += this.knobs.maxBatch) {
        const p = this.post(url, list.slice(i, i + this.knobs.maxBatch)).then(() => undefined);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
    }
  }

  /** POSTs one collection; returns the status (0: no answer within 3 s). */
  private async post(url: string, value: Array<Record<string, unknown>>): Promise<number> {
    this.stats.posts++;
    this.stats.notifications += value.length;
    try {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body: JSON.stringify({ value }), signal: AbortSignal.timeout(3000) });
      await r.arrayBuffer();
      if (r.status < 200 || r.status > 299) this.stats.failed++;
      return r.status;
    } catch {
      this.stats.failed++;
      return 0;
    }
  }

  /** Waits until every notification gathered so far has been posted and answered. */
  async settle(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.flush();
    }
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}
