/**
 * Local Entra ID / Microsoft Graph / Key Vault simulator: one HTTPS server on 127.0.0.1 with a self-signed
 * certificate made at start, speaking the wire protocols of the real SDKs. See README.md in this folder.
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { generate } from "selfsigned";
import { EntraEndpoint, TokenRegistry } from "./entra.js";
import { Federation, MANAGED_IDENTITY_PATH, type SimFederatedCredential, type SimManagedIdentity } from "./federation.js";
import { Faults, displayPath, echoText, type FaultSpec, type RandomFaults } from "./faults.js";
import { Graph, type Knobs } from "./graph.js";
import type { SimRequest, SimResponse } from "./http.js";
import { KeyVault } from "./keyvault.js";
import { Store, type SimUserView, type TenantInfo } from "./store.js";
import { Throttler, type ThrottleOptions } from "./throttle.js";
import { Subscriptions, type DeliveryStats, type SimSubscription } from "./subscriptions.js";
import type { SimUser, SimUserInput } from "./types.js";
import { entraSecretValue, prng, sleep } from "./util.js";

export type { ThrottleOptions } from "./throttle.js";
export type { FaultSpec, RandomFaults } from "./faults.js";
export type { SimUserView, TenantInfo, SimDomain } from "./store.js";
export type { SimUser, SimUserInput } from "./types.js";
export type { SimFederatedCredential, SimManagedIdentity } from "./federation.js";
export type { DeliveryStats, SimSubscription } from "./subscriptions.js";

export interface SimulatorOptions {
  /** max users per delta/list page, default 200 */
  pageSize?: number;
  /** added to every Graph/Key Vault/token response, default 0 */
  latencyMs?: number;
  /** default: on with Microsoft's numbers */
  throttle?: false | ThrottleOptions;
  /** default none */
  randomFaults?: RandomFaults;
  /** clock (ms since epoch) for token/secret expiry and delta token age; default Date.now */
  now?: () => number;
}

export interface RequestLogEntry {
  /** ISO time */
  ts: string;
  method: string;
  /** decoded path + query */
  path: string;
  status: number;
  tenantId?: string;
  /** Host header the client used */
  host: string;
  /** whether an Authorization header was present (never its value) */
  authorization: boolean;
  /** served inside a $batch */
  inBatch?: boolean;
}

export interface SimStats {
  requests: number;
  throttled: number;
  byRoute: Record<string, number>;
  writes: number;
}

export interface CreateTenantInput {
  id?: string;
  displayName: string;
  initialDomain?: string;
  federatedDomains?: string[];
  managedDomains?: string[];
}

export interface SimulatorControl {
  createTenant(input: CreateTenantInput): TenantInfo;
  createApp(tenantId: string, input: { clientId?: string; displayName?: string; roles: string[]; enabled?: boolean }): { clientId: string; objectId: string };
  setAppRoles(tenantId: string, clientId: string, roles: string[]): void;
  setAppEnabled(tenantId: string, clientId: string, enabled: boolean): void;
  addSecret(tenantId: string, clientId: string, input: { value?: string; endDateTime: Date | string; displayName?: string }): { value: string; keyId: string; hint: string; endDateTime: string };
  removeSecret(tenantId: string, clientId: string, keyId: string): void;
  addUsers(tenantId: string, users: SimUserInput[]): SimUser[];
  updateUser(tenantId: string, id: string, patch: Partial<SimUser>): void;
  softDeleteUser(tenantId: string, id: string): void;
  restoreUser(tenantId: string, id: string): void;
  hardDeleteUser(tenantId: string, id: string): void;
  getUser(tenantId: string, id: string): SimUserView | undefined;
  /** active users only */
  listUsers(tenantId: string): SimUser[];
  setPrivileged(tenantId: string, id: string, privileged: boolean): void;
  gainImmutableIdBeforeNextRead(tenantId: string, userId: string, value: string): void;
  expireDeltaTokens(tenantId: string, how: "syncStateNotFound" | "gone"): void;
  setDuplicateRate(rate: number): void;
  setEmptyPageRate(rate: number): void;
  setLatency(ms: number): void;
  setPageSize(n: number): void;
  setThrottle(opts: ThrottleOptions | false): void;
  /** The throttle model's per-app write limit (window scale applied). */
  writeLimit(): { writes: number; windowSeconds: number };
  setRandomFaults(opts: RandomFaults): void;
  injectFault(spec: FaultSpec): string;
  clearFaults(): void;
  stats(): SimStats;
  requestLog(): RequestLogEntry[];
  resetStats(): void;
  /** moves the simulator clock forward (an offset added to the clock in use) */
  advanceClock(ms: number): void;
  /** Live change notification subscriptions (of one tenant). */
  listSubscriptions(tenantId?: string): SimSubscription[];
  /** Sends a lifecycle notification of a subscription to its lifecycleNotificationUrl; returns the HTTP status. */
  sendLifecycleEvent(subscriptionId: string, event: "reauthorizationRequired" | "subscriptionRemoved" | "missed"): Promise<number>;
  /** Deletes a subscription silently, as Graph does when it is lost. */
  expireSubscription(subscriptionId: string): void;
  /** true: change notifications are lost (Graph may drop them); the timer must catch up. */
  setNotificationsDropped(drop: boolean): void;
  /** How long a validation request may take (Graph: 10,000 ms) and how long notifications are gathered per POST. */
  setNotificationTimings(o: { validationTimeoutMs?: number; batchMs?: number }): void;
  notificationStats(): DeliveryStats;
  /** Waits until every change notification gathered so far has been delivered. */
  settleNotifications(): Promise<void>;
  /** Replaces the federated identity credentials of an app registration (by client id). */
  setFederatedCredentials(appClientId: string, credentials: SimFederatedCredential[]): void;
  federatedCredentials(appClientId: string): SimFederatedCredential[];
  /** Admin consent to a multi-tenant app in a customer tenant: its service principal there, with the consented roles. */
  grantConsent(tenantId: string, appClientId: string, roles: string[]): void;
  /** The customer's admin deletes the app's enterprise application (service principal): consent revoked. */
  revokeConsent(tenantId: string, appClientId: string): void;
}

/**
 * The platform's side of workload identity federation, made at start: a user-assigned managed identity of the
 * platform tenant (served at `identityEndpoint` as App Service serves it) and the platform's multi-tenant app, whose
 * federated credential trusts that identity (issuer `<authorityHost>/<platform tenant>/v2.0`, subject its principal
 * id, audience api://AzureADTokenExchange). Customers consent with `control.grantConsent`.
 */
export interface SimFederationInfo {
  tenantId: string;
  appClientId: string;
  managedIdentity: SimManagedIdentity;
  /** IDENTITY_ENDPOINT and IDENTITY_HEADER, the variables ManagedIdentityCredential reads from the environment. */
  identityEndpoint: string;
  identityHeader: string;
  /** The credential as made at start. */
  credential: SimFederatedCredential;
}

export interface Simulator {
  /** "https://127.0.0.1:PORT" */
  baseUrl: string;
  /** == baseUrl */
  authorityHost: string;
  /** == baseUrl (Graph paths are /v1.0/...) */
  graphBaseUrl: string;
  /** == baseUrl + "/" (Key Vault paths are /secrets/...) */
  keyVaultUrl: string;
  /** PEM of the self-signed certificate */
  ca: string;
  /** The platform's own identity that may use the vault (its tenant is the vault's tenant). */
  vaultIdentity: { tenantId: string; clientId: string; clientSecret: string };
  federation: SimFederationInfo;
  control: SimulatorControl;
  stop(): Promise<void>;
}

const MAX_LOG = 100_000;
const CONTROL_METHODS = new Set<string>([
  "createTenant",
  "createApp",
  "setAppRoles",
  "setAppEnabled",
  "addSecret",
  "removeSecret",
  "addUsers",
  "updateUser",
  "softDeleteUser",
  "restoreUser",
  "hardDeleteUser",
  "getUser",
  "listUsers",
  "setPrivileged",
  "gainImmutableIdBeforeNextRead",
  "expireDeltaTokens",
  "setDuplicateRate",
  "setEmptyPageRate",
  "setLatency",
  "setPageSize",
  "setThrottle",
  "setRandomFaults",
  "injectFault",
  "clearFaults",
  "stats",
  "requestLog",
  "resetStats",
  "advanceClock",
  "setFederatedCredentials",
  "federatedCredentials",
  "grantConsent",
  "revokeConsent",
  "listSubscriptions",
  "sendLifecycleEvent",
  "expireSubscription",
  "setNotificationsDropped",
  "setNotificationTimings",
  "notificationStats",
  "settleNotifications",
]);

function routeKey(method: string, pathname: string): string {
  const p = pathname.replace(/\/+$/, "") || "/";
  let r: string;
  if (/^\/v1\.0\//i.test(p)) {
    r = p
      .replace(/^\/v1\.0\/users\/(?!delta\b)[^/]+$/i, "/v1.0/users/{id}")
      .replace(/\/applications\(appId='[^']*'\)/i, "/applications(appId={appId})")
      .replace(/^\/v1\.0\/domains\/[^/]+$/i, "/v1.0/domains/{id}")
      .replace(/^\/v1\.0\/subscriptions\/[^/]+$/i, "/v1.0/subscriptions/{id}")
      .replace(/%24batch$/i, "$batch");
  } else if (/^\/(secrets|deletedsecrets)(\/|$)/i.test(p)) {
    const segs = p.split("/").filter(Boolean);
    r = "/" + segs.map((s, i) => (i === 0 ? s : i === 2 && s === "versions" ? s : i === 1 ? "{name}" : "{version}")).join("/");
  } else {
    r = p.replace(/^\/[^/]+\/(oauth2|v2\.0|discovery)\//, "/{tenant}/$1/");
  }
  return `${method} ${r}`;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const baseClock = options.now ?? Date.now;
  let clockOffset = 0;
  const now = () => baseClock() + clockOffset;

  const pems = await generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });

  const store = new Store(now);
  const tokens = new TokenRegistry();
  const throttler = new Throttler(options.throttle);
  const faults = new Faults();
  if (options.randomFaults) faults.setRandom(options.randomFaults);
  const knobs: Knobs = { pageSize: options.pageSize ?? 200, duplicateRate: 0, emptyPageRate: 0, rng: prng(options.randomFaults?.seed ?? 42) };
  let latencyMs = options.latencyMs ?? 0;

  let stats: SimStats = { requests: 0, throttled: 0, byRoute: {}, writes: 0 };
  let log: RequestLogEntry[] = [];
  const record = (req: SimRequest, status: number, tenantId: string | undefined, host: string) => {
    stats.byRoute[(req.inBatch ? "[batch] " : "") + routeKey(req.method, req.url.pathname)] = (stats.byRoute[(req.inBatch ? "[batch] " : "") + routeKey(req.method, req.url.pathname)] ?? 0) + 1;
    if (status === 429) stats.throttled++;
    const entry: RequestLogEntry = {
      ts: new Date().toISOString(),
      method: req.method,
      path: displayPath(req.url),
      status,
      host,
      authorization: req.headers["authorization"] !== undefined,
    };
    if (tenantId) entry.tenantId = tenantId;
    if (req.inBatch) entry.inBatch = true;
    log.push(entry);
    if (log.length > MAX_LOG) log = log.slice(-MAX_LOG / 2);
  };

  const federation = new Federation(tokens, now);
  const entra = new EntraEndpoint(store, tokens, now, federation);
  const subscriptions = new Subscriptions(store, tokens, now);
  store.onUserChange = (tenantId, userId, changeType) => subscriptions.onUserChange(tenantId, userId, changeType);
  const graph = new Graph(store, tokens, throttler, faults, knobs, now, {
    onInner: (req, res) => record(req, res.status, res.tenantId, req.url.host),
    onWrite: () => {
      stats.writes++;
    },
  });

  // the platform's own vault identity
  const vaultTenant = store.createTenant({ displayName: "Platform (Key Vault)", initialDomain: "platform-vault.onmicrosoft.com" });
  const vaultApp = store.createApp(vaultTenant.id, { displayName: "entra-sync platform", roles: [] });
  const vaultSecret = store.addSecret(vaultTenant.id, vaultApp.clientId, { value: entraSecretValue(), endDateTime: new Date(now() + 10 * 365 * 24 * 3600 * 1000) });
  const vault = new KeyVault(tokens, { tenantId: vaultTenant.id, clientId: vaultApp.clientId }, now);
  // the platform's multi-tenant app (registered in its own tenant) and the user-assigned identity it trusts
  const platformApp = store.createApp(vaultTenant.id, { displayName: "entra-sync (multi-tenant)", roles: [] });
  const platformIdentity = federation.addIdentity(vaultTenant.id);

  const control: SimulatorControl = {
    createTenant: (input) => store.createTenant(input),
    createApp: (tenantId, input) => store.createApp(tenantId, input),
    setAppRoles: (tenantId, clientId, roles) => {
      store.app(tenantId, clientId).roles = [...roles];
    },
    setAppEnabled: (tenantId, clientId, enabled) => {
      store.app(tenantId, clientId).enabled = enabled;
    },
    addSecret: (tenantId, clientId, input) => store.addSecret(tenantId, clientId, input),
    removeSecret: (tenantId, clientId, keyId) => store.removeSecret(tenantId, clientId, keyId),
    addUsers: (tenantId, users) => store.addUsers(tenantId, users),
    updateUser: (tenantId, id, patch) => store.updateUser(tenantId, id, patch),
    softDeleteUser: (tenantId, id) => store.softDeleteUser(tenantId, id),
    restoreUser: (tenantId, id) => store.restoreUser(tenantId, id),
    hardDeleteUser: (tenantId, id) => store.hardDeleteUser(tenantId, id),
    getUser: (tenantId, id) => store.getUser(tenantId, id),
    listUsers: (tenantId) => store.listUsers(tenantId),
    setPrivileged: (tenantId, id, privileged) => store.setPrivileged(tenantId, id, privileged),
    gainImmutableIdBeforeNextRead: (tenantId, userId, value) => {
      const r = store.record(tenantId, userId);
      store.tenant(tenantId).pendingImmutable.set(r.user.id, value);
    },
    expireDeltaTokens: (tenantId, how) => {
      if (how !== "syncStateNotFound" && how !== "gone") throw new Error(`expireDeltaTokens: unknown kind ${String(how)}`);
      const t = store.tenant(tenantId);
      t.deltaEpoch++;
      t.expiredHow = how;
    },
    setDuplicateRate: (rate) => {
      knobs.duplicateRate = Math.min(1, Math.max(0, rate));
    },
    setEmptyPageRate: (rate) => {
      knobs.emptyPageRate = Math.min(0.95, Math.max(0, rate));
    },
    setLatency: (ms) => {
      latencyMs = Math.max(0, ms);
    },
    setPageSize: (n) => {
      if (!Number.isInteger(n) || n < 1) throw new Error("setPageSize: a positive integer is required");
      knobs.pageSize = n;
    },
    setThrottle: (opts) => throttler.configure(opts),
    writeLimit: () => throttler.writeLimit(),
    setRandomFaults: (opts) => faults.setRandom(opts),
    injectFault: (spec) => faults.inject(spec),
    clearFaults: () => faults.clear(),
    stats: () => ({ ...stats, byRoute: { ...stats.byRoute } }),
    requestLog: () => log.map((e) => ({ ...e })),
    resetStats: () => {
      stats = { requests: 0, throttled: 0, byRoute: {}, writes: 0 };
      log = [];
    },
    advanceClock: (ms) => {
      clockOffset += ms;
    },
    setFederatedCredentials: (appClientId, credentials) => federation.setCredentials(appClientId, credentials),
    federatedCredentials: (appClientId) => (federation.credentials.get(appClientId.toLowerCase()) ?? []).map((c) => ({ ...c, audiences: [...c.audiences] })),
    grantConsent: (tenantId, appClientId, roles) => {
      const t = store.tenant(tenantId);
      const sp = t.apps.get(appClientId.toLowerCase());
      if (sp) sp.roles = [...roles];
      else store.createApp(tenantId, { clientId: appClientId, displayName: "entra-sync (multi-tenant)", roles });
    },
    revokeConsent: (tenantId, appClientId) => {
      if (!store.tenant(tenantId).apps.delete(appClientId.toLowerCase())) throw new Error(`revokeConsent: app ${appClientId} has no service principal in tenant ${tenantId}`);
    },
    listSubscriptions: (tenantId) => subscriptions.list(tenantId),
    sendLifecycleEvent: (id, event) => subscriptions.sendLifecycle(id, event),
    expireSubscription: (id) => subscriptions.expire(id),
    setNotificationsDropped: (drop) => {
      subscriptions.knobs.drop = !!drop;
    },
    setNotificationTimings: (o) => {
      if (o.validationTimeoutMs !== undefined) subscriptions.knobs.validationTimeoutMs = Math.max(1, o.validationTimeoutMs);
      if (o.batchMs !== undefined) subscriptions.knobs.batchMs = Math.max(0, o.batchMs);
    },
    notificationStats: () => ({ ...subscriptions.stats }),
    settleNotifications: () => subscriptions.settle(),
  };

  async function handleControl(name: string, bodyText: string): Promise<{ status: number; body: unknown }> {
    if (!CONTROL_METHODS.has(name)) return { status: 404, body: { error: `unknown control method ${name}` } };
    let args: unknown[] = [];
    if (bodyText.trim()) {
      try {
        const parsed = JSON.parse(bodyText) as { args?: unknown };
        if (parsed.args !== undefined) {
          if (!Array.isArray(parsed.args)) return { status: 400, body: { error: "args must be an array" } };
          args = parsed.args;
        }
      } catch {
        return { status: 400, body: { error: "body must be JSON { args: [...] }" } };
      }
    }
    try {
      const fn = (control as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
      const result = await fn(...args);
      return { status: 200, body: { result: result === undefined ? null : result } };
    } catch (e) {
      return { status: 400, body: { error: e instanceof Error ? e.message : String(e) } };
    }
  }

  function send(res: ServerResponse, r: SimResponse): void {
    let payload: string | undefined;
    if (r.body !== undefined) payload = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
    const headers: Record<string, string | number> = { ...r.headers };
    if (payload !== undefined) {
      headers["content-type"] ??= "application/json; charset=utf-8";
      headers["content-length"] = Buffer.byteLength(payload);
    } else {
      headers["content-length"] = 0;
    }
    res.writeHead(r.status, headers);
    res.end(payload);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const bodyText = Buffer.concat(chunks).toString("utf8");
    const hostHeader = req.headers.host ?? `127.0.0.1:${port}`;
    const origin = `https://${hostHeader}`;
    let url: URL;
    try {
      url = new URL(req.url ?? "/", origin);
    } catch {
      send(res, { status: 400, headers: {}, body: { error: "bad url" } });
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
    const method = (req.method ?? "GET").toUpperCase();

    if (url.pathname.startsWith("/_control/")) {
      if (method !== "POST") {
        send(res, { status: 405, headers: {}, body: { error: "POST only" } });
        return;
      }
      const r = await handleControl(decodeURIComponent(url.pathname.slice("/_control/".length)), bodyText);
      send(res, { status: r.status, headers: {}, body: r.body });
      return;
    }

    const simReq: SimRequest = { method, url, headers, bodyText, origin };
    stats.requests++;
    let out: SimResponse;
    try {
      if (url.pathname === MANAGED_IDENTITY_PATH) {
        out = federation.handleIdentityEndpoint(simReq);
      } else if (Subscriptions.handles(url.pathname)) {
        out = await subscriptions.handle(simReq);
      } else if (/^\/v1\.0(\/|$)/i.test(url.pathname)) {
        out = graph.handle(simReq);
      } else {
        const isVault = KeyVault.isVaultPath(url.pathname);
        const tenantSeg = isVault ? vaultTenant.id : url.pathname.split("/").filter(Boolean)[0];
        const fault = faults.match(method, displayPath(url), tenantSeg ? (store.findTenant(tenantSeg)?.id ?? tenantSeg) : undefined);
        if (fault) {
          out = fault.resetConnection
            ? { status: 0, headers: {}, resetConnection: true }
            : {
                status: fault.status,
                headers: { "content-type": "application/json", ...(fault.headers ?? {}) },
                body:
                  fault.body ??
                  (isVault
                    ? { error: { code: "InjectedFault", message: `Injected fault ${fault.status}${fault.echo ? `; the request was ${echoText(fault, simReq)}` : ""}` } }
                    : fault.echo
                      ? { error: "invalid_request", error_description: `The request could not be processed; it was ${echoText(fault, simReq)}` }
                      : { error: "temporarily_unavailable", error_description: `Injected fault ${fault.status}` }),
              };
        } else if (isVault) {
          out = vault.handle(simReq);
          out.tenantId = vaultTenant.id;
        } else {
          const e = entra.handle(simReq);
          if (e) {
            out = e;
            const seg = url.pathname.split("/").filter(Boolean)[0];
            const t = seg ? store.findTenant(seg) : undefined;
            if (t) out.tenantId = t.id;
          } else {
            out = { status: 404, headers: {}, body: { error: { code: "NotFound", message: `No simulator route for ${method} ${url.pathname}` } } };
          }
        }
      }
    } catch (e) {
      out = { status: 500, headers: {}, body: { error: { code: "SimulatorError", message: e instanceof Error ? e.message : String(e) } } };
    }
    if (latencyMs > 0) await sleep(latencyMs);
    if (out.resetConnection) {
      record(simReq, 0, out.tenantId, hostHeader);
      req.socket.destroy();
      return;
    }
    record(simReq, out.status, out.tenantId, hostHeader);
    send(res, out);
  }

  const sockets = new Set<Socket>();
  const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    onRequest(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, { status: 500, headers: {}, body: { error: { code: "SimulatorError", message: String(e) } } });
      else res.destroy();
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 5_000;

  let port = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("simulator: no address");
  port = addr.port;
  const baseUrl = `https://127.0.0.1:${port}`;
  const platformCredential: SimFederatedCredential = {
    name: "entra-sync-function-app",
    issuer: `${baseUrl}/${vaultTenant.id}/v2.0`,
    subject: platformIdentity.principalId,
    audiences: ["api://AzureADTokenExchange"],
  };
  federation.setCredentials(platformApp.clientId, [platformCredential]);

  return {
    baseUrl,
    authorityHost: baseUrl,
    graphBaseUrl: baseUrl,
    keyVaultUrl: `${baseUrl}/`,
    ca: pems.cert,
    vaultIdentity: { tenantId: vaultTenant.id, clientId: vaultApp.clientId, clientSecret: vaultSecret.value },
    federation: {
      tenantId: vaultTenant.id,
      appClientId: platformApp.clientId,
      managedIdentity: { ...platformIdentity },
      identityEndpoint: `${baseUrl}${MANAGED_IDENTITY_PATH}`,
      identityHeader: federation.identityHeader,
      credential: { ...platformCredential, audiences: [...platformCredential.audiences] },
    },
    control,
    stop: () =>
      new Promise<void>((resolve) => {
        subscriptions.stop();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
}

