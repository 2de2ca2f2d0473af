/** Microsoft Graph v1.0: users (list, get, PATCH, delta), $batch, applications, domains. */
import { displayPath, echoText, type Faults } from "./faults.js";
import { bearer, parseJsonBody, type SimRequest, type SimResponse } from "./http.js";
import type { IssuedToken, TokenRegistry } from "./entra.js";
import { USER_PROPS, upnDomain, type Store, type TenantRecord, type UserProp, type UserRecord } from "./store.js";
import type { Throttler, ThrottleDecision } from "./throttle.js";
import type { SimUser } from "./types.js";
import { decodeToken, encodeToken, graphDate, guid, isRecord } from "./util.js";

export interface Knobs {
  pageSize: number;
  duplicateRate: number;
  emptyPageRate: number;
  rng: () => number;
}

export interface GraphHooks {
  /** a request served inside $batch (for stats and the request log) */
  onInner(req: SimRequest, res: SimResponse): void;
  /** an accepted write */
  onWrite(): void;
}

const DELTA_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const DEFAULT_SELECT: UserProp[] = ["id", "displayName", "givenName", "mail", "mobilePhone", "surname", "userPrincipalName"];
const PROP_BY_LOWER = new Map<string, UserProp>(USER_PROPS.map((p) => [p.toLowerCase(), p]));
const EXT_KEYS = Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}`);

/**
 * The application permissions (app roles in the token's `roles` claim) that grant each call, least privileged first,
 * then the higher ones that also grant it — as the "Permissions" table of each method's page in Microsoft's Graph
 * v1.0 API reference lists them for the Application permission type. Nothing else grants a call: a token without any
 * of them gets 403 Authorization_RequestDenied, inside `$batch` too (each inner request is checked on its own).
 */
export const GRAPH_PERMISSIONS = {
  // "user: delta" (GET /users/delta): User.Read.All; higher Directory.Read.All, Directory.ReadWrite.All, User.ReadWrite.All.
  usersDelta: ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
  // "Get user" (GET /users/{id}, any $select incl. birthday) and "List users" (GET /users): User.Read.All;
  // higher User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All.
  usersRead: ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
  // "Update user" (PATCH /users/{id}): User.ReadWrite.All; higher Directory.ReadWrite.All. The property-scoped ones
  // (User-Mail.ReadWrite.All, User-Phone.ReadWrite.All, User.EnableDisableAccount.All, …) cover neither
  // onPremisesImmutableId nor userPrincipalName, the only properties entra-sync writes.
  usersWrite: ["User.ReadWrite.All", "Directory.ReadWrite.All"],
  // "List domains" / "Get domain" (GET /domains, /domains/{id}): Domain.Read.All; higher Directory.Read.All,
  // Domain.ReadWrite.All. No User.* permission reads domains.
  domainsRead: ["Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"],
  // "Get application" (GET /applications/{id}, /applications(appId='…')) and "List applications": Application.Read.All;
  // higher Application.ReadWrite.All. (Application.ReadWrite.OwnedBy reaches only apps the caller owns, which the
  // simulator does not model: refused.)
  applicationsRead: ["Application.Read.All", "Application.ReadWrite.All"],
} as const satisfies Record<string, readonly string[]>;

/** Properties a PATCH may set (onPremisesSyncEnabled and id are read-only). */
const WRITABLE = new Set<UserProp>(USER_PROPS.filter((p) => p !== "id" && p !== "onPremisesSyncEnabled"));

const GRAPH_CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

interface DeltaLinkState {
  k: "d";
  t: string;
  s: UserProp[] | null;
  /** changes after this version are reported */
  b: number;
  at: number;
  e: number;
}

interface SkipState {
  k: "s";
  t: string;
  s: UserProp[] | null;
  /** 1 = initial round (no base version) */
  i: 0 | 1;
  b: number;
  /** snapshot version of this round */
  v: number;
  /** next index in TenantRecord.ordered */
  c: number;
  /** ids to repeat on the next page (duplicate knob) */
  d: string[];
  at: number;
  e: number;
}

interface ListState {
  t: string;
  s: UserProp[] | null;
  top: number;
  f: string | null;
  c: number;
}

interface Ctx {
  req: SimRequest;
  requestId: string;
  clientRequestId: string;
  token: IssuedToken;
  tenant: TenantRecord;
  /** resource units charged (x-ms-resource-unit) */
  units: number;
  throttle?: ThrottleDecision;
}

type Route = { roles: readonly string[]; kind: "read"; cost: (ctx: Ctx) => number; run: (ctx: Ctx) => SimResponse } | { roles: readonly string[]; kind: "write"; run: (ctx: Ctx) => SimResponse };

function fullExt(ext: SimUser["onPremisesExtensionAttributes"]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const src = ext as Record<string, string | null | undefined>;
  for (const k of EXT_KEYS) out[k] = src[k] ?? null;
  return out;
}

function propValue(u: SimUser, p: UserProp): unknown {
  if (p === "onPremisesExtensionAttributes") return fullExt(u.onPremisesExtensionAttributes);
  if (p === "otherMails") return [...u.otherMails];
  return u[p];
}

function render(u: SimUser, props: readonly UserProp[]): Record<string, unknown> {
  const out: Record<string, unknown> = { id: u.id };
  for (const p of props) if (p !== "id") out[p] = propValue(u, p);
  return out;
}

export class Graph {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenRegistry,
    private readonly throttler: Throttler,
    private readonly faults: Faults,
    private readonly knobs: Knobs,
    private readonly now: () => number,
    private readonly hooks: GraphHooks,
  ) {}

  // ------------------------------------------------------------------ plumbing

  private err(
    _req: SimRequest,
    ids: { requestId: string; clientRequestId: string },
    status: number,
    code: string,
    message: string,
    details?: Array<{ code: string; message: string; target: string }>,
    headers: Record<string, string> = {},
  ): SimResponse {
    const error: Record<string, unknown> = { code, message };
    if (details) error["details"] = details;
    error["innerError"] = { date: graphDate(Date.now()), "request-id": ids.requestId, "client-request-id": ids.clientRequestId };
    return {
      status,
      headers: { "content-type": GRAPH_CONTENT_TYPE, "request-id": ids.requestId, "client-request-id": ids.clientRequestId, ...headers },
      body: { error },
    };
  }

  private ok(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): SimResponse {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h["content-type"] = GRAPH_CONTENT_TYPE;
    return { status, headers: h, body, tenantId: ctx.tenant.id };
  }

  /** Entry point for everything under /v1.0 (outer requests). */
  handle(req: SimRequest): SimResponse {
    const sub = req.url.pathname.replace(/^\/v1\.0/i, "").replace(/\/+$/, "") || "/";
    if (sub === "/$batch" || sub === "/%24batch") {
      if (req.method !== "POST") {
        const ids = { requestId: guid(), clientRequestId: req.headers["client-request-id"] ?? guid() };
        return this.err(req, ids, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
      }
      return this.batch(req);
    }
    return this.single(req, sub);
  }

  private authenticate(req: SimRequest): IssuedToken | { status: number; message: string } {
    const tok = bearer(req.headers);
    if (!tok) return { status: 401, message: "Access token is empty." };
    const t = this.tokens.validate(tok);
    if (t === "expired") return { status: 401, message: "Lifetime validation failed, the token is expired." };
    if (!t) return { status: 401, message: "Access token validation failure. Invalid JWT token." };
    if (t.aud === "https://vault.azure.net") return { status: 401, message: "Access token validation failure. Invalid audience." };
    return t;
  }

  private single(req: SimRequest, sub: string): SimResponse {
    const requestId = guid();
    const clientRequestId = req.headers["client-request-id"] ?? requestId;
    const ids = { requestId, clientRequestId };
    const auth = this.authenticate(req);
    const tenant = "tid" in auth ? this.store.tenants.get(auth.tid) : undefined;
    const res = this.singleInner(req, sub, ids, auth, tenant);
    res.headers["request-id"] = requestId;
    res.headers["client-request-id"] = clientRequestId;
    // requests refused before being charged (401/403/429/faults) cost nothing
    res.headers["x-ms-resource-unit"] ??= "0";
    res.headers["x-ms-ags-diagnostic"] = JSON.stringify({ ServerInfo: { DataCenter: "Local", Slice: "E", Ring: "0", ScaleUnit: "000", RoleInstance: "SIM" } });
    if (tenant) res.tenantId = tenant.id;
    return res;
  }

  private singleInner(
    req: SimRequest,
    sub: string,
    ids: { requestId: string; clientRequestId: string },
    auth: IssuedToken | { status: number; message: string },
    tenant: TenantRecord | undefined,
  ): SimResponse {
    // faults come before any handling
    const fault = this.faults.match(req.method, displayPath(req.url), tenant?.id);
    if (fault) {
      if (fault.resetConnection && !req.inBatch) return { status: 0, headers: {}, resetConnection: true };
      const code = fault.status === 429 ? "TooManyRequests" : fault.status >= 500 ? "ServiceUnavailable" : "BadRequest";
      const headers = fault.headers ?? (fault.status === 429 ? { "retry-after": "1" } : {});
      const lower: Record<string, string> = {};
      for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
      if (fault.body !== undefined) return { status: fault.status, headers: { "content-type": "application/json", ...lower }, body: fault.body };
      return this.err(req, ids, fault.status, code, `Injected fault ${fault.status}${fault.echo ? `; the request was ${echoText(fault, req)}` : ""}`, undefined, lower);
    }
    const roll = this.faults.roll();
    if (roll === 429) return this.err(req, ids, 429, "TooManyRequests", "Too many requests", undefined, { "retry-after": "1" });
    if (roll !== undefined) return this.err(req, ids, roll, roll === 504 ? "GatewayTimeout" : "ServiceUnavailable", "The service is temporarily unavailable. Please retry.");

    if (!("tid" in auth)) {
      return this.err(req, ids, auth.status, "InvalidAuthenticationToken", auth.message, undefined, {
        "www-authenticate": `Bearer realm="", authorization_uri="${req.origin}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
      });
    }
    if (!tenant) return this.err(req, ids, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.");

    const route = this.route(req.method, sub, req, ids);
    if ("status" in route) return route;
    const ctx: Ctx = { req, ...ids, token: auth, tenant, units: 1 };
    const roles = auth.roles ?? [];
    if (!route.roles.some((r) => roles.includes(r))) {
      return this.err(req, ids, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    }
    let decision: ThrottleDecision;
    if (route.kind === "read") {
      ctx.units = Math.max(1, route.cost(ctx));
      decision = this.throttler.read(tenant.id, auth.appid, ctx.units, tenant.activeCount);
    } else {
      ctx.units = 1;
      decision = this.throttler.write(tenant.id, auth.appid);
    }
    if (!decision.ok) {
      return this.err(req, ids, 429, "TooManyRequests", "Too many requests", undefined, {
        "retry-after": String(decision.retryAfter ?? 1),
        "x-ms-throttle-scope": decision.scope ?? "",
        "x-ms-throttle-information": decision.information ?? "",
        "x-ms-throttle-limit-percentage": Math.min(1.8, decision.usage).toFixed(1),
      });
    }
    ctx.throttle = decision;
    const res = route.run(ctx);
    res.headers["x-ms-resource-unit"] = String(ctx.units);
    // like Graph: only sent once an app passes 80 % of its budget
    if (decision.usage >= 0.8) res.headers["x-ms-throttle-limit-percentage"] = decision.usage.toFixed(1);
    return res;
  }

  private route(method: string, sub: string, req: SimRequest, ids: { requestId: string; clientRequestId: string }): Route | SimResponse {
    const segs = sub.split("/").filter(Boolean).map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const head = segs[0] ?? "";
    const notAllowed = () => this.err(req, ids, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
    if (head.toLowerCase() === "users") {
      if (segs.length === 1) {
        if (method !== "GET") return notAllowed();
        return { roles: GRAPH_PERMISSIONS.usersRead, kind: "read", cost: () => (req.url.searchParams.has("$select") ? 1 : 2), run: (c) => this.listUsers(c) };
      }
      const second = segs[1] ?? "";
      if (segs.length === 2 && (second.toLowerCase() === "delta" || second.toLowerCase() === "delta()")) {
        if (method !== "GET") return notAllowed();
        return { roles: GRAPH_PERMISSIONS.usersDelta, kind: "read", cost: () => 1, run: (c) => this.delta(c) };
      }
      if (segs.length === 2) {
        if (method === "GET") return { roles: GRAPH_PERMISSIONS.usersRead, kind: "read", cost: () => 1, run: (c) => this.getUser(c, second) };
        if (method === "PATCH") return { roles: GRAPH_PERMISSIONS.usersWrite, kind: "write", run: (c) => this.patchUser(c, second) };
        return notAllowed();
      }
    }
    const appByAppId = /^applications\(appId='([^']*)'\)$/i.exec(head);
    if (appByAppId && segs.length === 1) {
      if (method !== "GET") return notAllowed();
      return { roles: GRAPH_PERMISSIONS.applicationsRead, kind: "read", cost: () => 1, run: (c) => this.getApplication(c, { appId: appByAppId[1] ?? "" }) };
    }
    if (head.toLowerCase() === "applications") {
      if (method !== "GET") return notAllowed();
      if (segs.length === 1) return { roles: GRAPH_PERMISSIONS.applicationsRead, kind: "read", cost: () => 1, run: (c) => this.listApplications(c) };
      if (segs.length === 2) return { roles: GRAPH_PERMISSIONS.applicationsRead, kind: "read", cost: () => 1, run: (c) => this.getApplication(c, { objectId: segs[1] ?? "" }) };
    }
    if (head.toLowerCase() === "domains") {
      if (method !== "GET") return notAllowed();
      if (segs.length === 1) return { roles: GRAPH_PERMISSIONS.domainsRead, kind: "read", cost: () => 1, run: (c) => this.listDomains(c) };
      if (segs.length === 2) return { roles: GRAPH_PERMISSIONS.domainsRead, kind: "read", cost: () => 1, run: (c) => this.getDomain(c, segs[1] ?? "") };
    }
    return this.err(req, ids, 400, "BadRequest", `Resource not found for the segment '${segs[segs.length - 1] ?? head}'.`);
  }

  private cerr(ctx: Ctx, status: number, code: string, message: string, details?: Array<{ code: string; message: string; target: string }>): SimResponse {
    return this.err(ctx.req, ctx, status, code, message, details);
  }

  /** Parses $select into canonical user properties; undefined when absent. */
  private parseSelect(ctx: Ctx, value: string | null, allowBirthday: boolean, delta: boolean): UserProp[] | SimResponse | undefined {
    if (value === null) return undefined;
    const out: UserProp[] = [];
    for (const raw of value.split(",")) {
      const name = raw.trim();
      if (!name) continue;
      const p = PROP_BY_LOWER.get(name.toLowerCase());
      if (!p) {
        return this.cerr(ctx, 400, "Request_BadRequest", `Parsing OData Select and Expand failed: Could not find a property named '${name}' on type 'microsoft.graph.user'.`);
      }
      if (p === "birthday" && !allowBirthday) {
        if (delta) {
          return this.cerr(ctx, 400, "BadRequest", "Invalid request for delta query: for this entity set, $expand/$select is not supported for the following properties: birthday");
        }
        return this.cerr(ctx, 400, "BadRequest", "The 'birthday' property can't be returned within a user collection. It is only supported when retrieving a single user.");
      }
      if (!out.includes(p)) out.push(p);
    }
    if (!out.includes("id")) out.unshift("id");
    return out;
  }

  private context(ctx: Ctx, what: string): string {
    return `${ctx.req.origin}/v1.0/$metadata#${what}`;
  }

  private applyPendingImmutable(t: TenantRecord, r: UserRecord): void {
    const v = t.pendingImmutable.get(r.user.id);
    if (v === undefined) return;
    t.pendingImmutable.delete(r.user.id);
    try {
      this.store.applyChange(t, r, { onPremisesImmutableId: v });
    } catch {
      // the value became taken meanwhile: the "other admin" failed too
    }
  }

  // ------------------------------------------------------------------ users

  private getUser(ctx: Ctx, key: string): SimResponse {
    const q = ctx.req.url.searchParams;
    const sel = this.parseSelect(ctx, q.get("$select"), true, false);
    if (sel && "status" in sel) return sel;
    const r = this.store.findActive(ctx.tenant, key);
    if (!r) {
      return this.cerr(ctx, 404, "Request_ResourceNotFound", `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
    }
    this.applyPendingImmutable(ctx.tenant, r);
    const props = sel ?? DEFAULT_SELECT;
    const what = sel ? `users(${props.join(",")})/$entity` : "users/$entity";
    return this.ok(ctx, 200, { "@odata.context": this.context(ctx, what), ...render(r.user, props) });
  }

  private listUsers(ctx: Ctx): SimResponse {
    const q = ctx.req.url.searchParams;
    for (const p of ["$orderby", "$expand", "$search"]) {
      if (q.has(p)) return this.cerr(ctx, 400, "Request_UnsupportedQuery", `Unsupported query: ${p} is not supported by this simulator.`);
    }
    let state: ListState;
    const skip = q.get("$skiptoken");
    if (skip) {
      const s = decodeToken<ListState>(skip);
      if (!s || s.t !== ctx.tenant.id || typeof s.c !== "number") return this.cerr(ctx, 400, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.");
      state = s;
    } else {
      const sel = this.parseSelect(ctx, q.get("$select"), false, false);
      if (sel && "status" in sel) return sel;
      let top = 100;
      const topRaw = q.get("$top");
      if (topRaw !== null) {
        top = Number(topRaw);
        if (!Number.isInteger(top) || top < 1 || top > 999) {
          return this.cerr(ctx, 400, "Request_BadRequest", `Invalid page size specified: '${topRaw}'. Must be between 1 and 999 inclusive.`);
        }
      }
      state = { t: ctx.tenant.id, s: sel ?? null, top, f: q.get("$filter"), c: 0 };
    }
    const filter = this.parseFilter(ctx, state.f);
    if (filter && "status" in filter) return filter;
    const t = ctx.tenant;
    const props = state.s ?? DEFAULT_SELECT;
    const value: Record<string, unknown>[] = [];
    let c = state.c;
    let more = false;
    for (; c < t.ordered.length; c++) {
      const r = t.ordered[c]!;
      if (r.softDeleted || r.hardDeleted) continue;
      if (filter && !filter(r.user)) continue;
      if (value.length >= Math.min(state.top, Math.max(1, this.knobs.pageSize))) {
        more = true;
        break;
      }
      this.applyPendingImmutable(t, r);
      value.push(render(r.user, props));
    }
    const body: Record<string, unknown> = { "@odata.context": this.context(ctx, state.s ? `users(${props.join(",")})` : "users") };
    if (more) {
      const next: ListState = { ...state, c };
      const params = new URLSearchParams();
      if (state.s) params.set("$select", state.s.join(","));
      params.set("$top", String(state.top));
      if (state.f) params.set("$filter", state.f);
      params.set("$skiptoken", encodeToken(next));
      body["@odata.nextLink"] = `${ctx.req.origin}/v1.0/users?${params.toString()}`;
    }
    body["value"] = value;
    return this.ok(ctx, 200, body);
  }

  /** `prop eq 'value'` (also true/false/null), optionally joined with `and`. */
  private parseFilter(ctx: Ctx, f: string | null): ((u: SimUser) => boolean) | SimResponse | undefined {
    if (f === null || f.trim() === "") return undefined;
    const clauses = f.split(/\s+and\s+/i);
    const tests: Array<(u: SimUser) => boolean> = [];
    const supported = new Set<UserProp>(["id", "userPrincipalName", "mail", "onPremisesImmutableId", "displayName", "givenName", "surname", "accountEnabled", "onPremisesSyncEnabled"]);
    for (const clause of clauses) {
      const m = /^\s*(\w+)\s+eq\s+('(?:[^']|'')*'|true|false|null)\s*$/i.exec(clause);
      const prop = m ? PROP_BY_LOWER.get((m[1] ?? "").toLowerCase()) : undefined;
      if (!m || !prop || !supported.has(prop)) {
        return this.cerr(ctx, 400, "Request_UnsupportedQuery", `Unsupported or invalid query filter clause specified for property '${m?.[1] ?? clause.trim()}' of resource 'User'.`);
      }
      const lit = m[2] ?? "";
      let expected: string | boolean | null;
      if (lit.startsWith("'")) expected = lit.slice(1, -1).replace(/''/g, "'");
      else if (lit.toLowerCase() === "null") expected = null;
      else expected = lit.toLowerCase() === "true";
      tests.push((u) => {
        const v = u[prop] as unknown;
        if (typeof expected === "string") return typeof v === "string" && v.toLowerCase() === expected.toLowerCase();
        return v === expected;
      });
    }
    return (u) => tests.every((t) => t(u));
  }

  private patchUser(ctx: Ctx, key: string): SimResponse {
    const t = ctx.tenant;
    const r = this.store.findActive(t, key);
    if (!r) return this.cerr(ctx, 404, "Request_ResourceNotFound", `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
    const parsed = parseJsonBody(ctx.req.bodyText);
    if (!parsed.ok || !isRecord(parsed.value)) {
      return this.cerr(ctx, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
    }
    const body = parsed.value;
    const patch: Partial<Record<UserProp, unknown>> = {};
    for (const [k, v] of Object.entries(body)) {
      if (k.startsWith("@odata")) continue;
      const p = PROP_BY_LOWER.get(k.toLowerCase());
      if (!p) return this.cerr(ctx, 400, "Request_BadRequest", `Property '${k}' does not exist as a declared property or extension property.`);
      if (!WRITABLE.has(p)) return this.cerr(ctx, 400, "Request_BadRequest", `Property '${p}' is read-only and cannot be set.`);
      const invalid = () => this.cerr(ctx, 400, "Request_BadRequest", `Invalid value specified for property '${p}' of resource 'User'.`);
      if (p === "accountEnabled") {
        if (typeof v !== "boolean") return invalid();
      } else if (p === "otherMails") {
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) return invalid();
      } else if (p === "onPremisesExtensionAttributes") {
        if (!isRecord(v)) return invalid();
        for (const [ek, ev] of Object.entries(v)) {
          if (!EXT_KEYS.includes(ek) || (ev !== null && typeof ev !== "string")) return invalid();
        }
      } else if (p === "userPrincipalName") {
        if (typeof v !== "string") return invalid();
      } else if (v !== null && typeof v !== "string") {
        return invalid();
      }
      patch[p] = v;
    }
    const u = r.user;
    if (u.onPremisesSyncEnabled === true && Object.keys(patch).length > 0) {
      return this.cerr(
        ctx,
        400,
        "Request_BadRequest",
        "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
      );
    }
    if ("onPremisesImmutableId" in patch) {
      const v = patch.onPremisesImmutableId as string | null;
      if (r.privileged) return this.cerr(ctx, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
      if (v !== null) {
        if (v === "" || v.includes("$") || v.includes("_") || v.length >= 60) {
          return this.cerr(ctx, 400, "Request_BadRequest", "Invalid value specified for property 'onPremisesImmutableId' of resource 'User'.");
        }
        const other = t.immutableIndex.get(v);
        if (other !== undefined && other !== u.id) {
          return this.cerr(ctx, 400, "Request_BadRequest", "Another object with the same value for property onPremisesImmutableId already exists.", [
            { code: "ObjectConflict", message: "Another object with the same value for property onPremisesImmutableId already exists.", target: "onPremisesImmutableId" },
          ]);
        }
        // checked against the UPN as stored BEFORE this PATCH
        const dom = t.domains.get(upnDomain(u.userPrincipalName));
        if (dom?.authenticationType === "Federated" && v !== u.onPremisesImmutableId) {
          return this.cerr(
            ctx,
            400,
            "Request_BadRequest",
            `Unable to update the onPremisesImmutableId of a user whose userPrincipalName is in the federated domain '${dom.id}'. Change the userPrincipalName to a managed domain first.`,
          );
        }
      }
    }
    if (typeof patch.userPrincipalName === "string") {
      const upn = patch.userPrincipalName;
      const d = upnDomain(upn);
      const local = upn.slice(0, Math.max(0, upn.lastIndexOf("@")));
      if (!local || !t.domains.has(d)) {
        return this.cerr(
          ctx,
          400,
          "Request_BadRequest",
          "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
          [{ code: "InvalidValue", message: "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.", target: "userPrincipalName" }],
        );
      }
      const other = t.upnIndex.get(upn.toLowerCase());
      if (other !== undefined && other !== u.id) {
        return this.cerr(ctx, 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.", [
          { code: "ObjectConflict", message: "Another object with the same value for property userPrincipalName already exists.", target: "userPrincipalName" },
        ]);
      }
      // A user enters a federated domain only with an ImmutableId: it must hold one already or get one in the same
      // PATCH. Microsoft documents it for Set-MsolUserPrincipalName ("-ImmutableId … is required if moving the user
      // from a standard to a federated identity domain") and for POST /users ("onPremisesImmutableId: required …
      // if you are using a federated domain for the user's userPrincipalName"). Graph's answer is a 400
      // Request_BadRequest without details, "One or more properties contains invalid values." (the answer reported
      // for a user created in a federated domain without one; Graph does not document the PATCH answer). Strictest
      // reading: any change of the UPN into a federated domain, from a managed or another federated one.
      const target = t.domains.get(d);
      const immutableAfter = "onPremisesImmutableId" in patch ? (patch.onPremisesImmutableId as string | null) : u.onPremisesImmutableId;
      if (target?.authenticationType === "Federated" && !immutableAfter && upn.toLowerCase() !== u.userPrincipalName.toLowerCase()) {
        return this.cerr(ctx, 400, "Request_BadRequest", "One or more properties contains invalid values.");
      }
    }
    this.store.applyChange(t, r, patch as Partial<SimUser>);
    this.hooks.onWrite();
    return this.ok(ctx, 204, undefined);
  }

  // ------------------------------------------------------------------ delta

  private delta(ctx: Ctx): SimResponse {
    const q = ctx.req.url.searchParams;
    const t = ctx.tenant;
    const now = this.now();
    const minimal = /return=minimal/i.test(ctx.req.headers["prefer"] ?? "");
    const applied: Record<string, string> = minimal ? { "preference-applied": "return=minimal" } : {};
    const deltaToken = q.get("$deltatoken");
    const skipToken = q.get("$skiptoken");
    let state: SkipState;
    if (deltaToken === "latest") {
      const sel = this.parseSelect(ctx, q.get("$select"), false, true);
      if (sel && "status" in sel) return sel;
      const link: DeltaLinkState = { k: "d", t: t.id, s: sel ?? null, b: t.version, at: now, e: t.deltaEpoch };
      return this.ok(
        ctx,
        200,
        { "@odata.context": this.context(ctx, sel ? `users(${sel.join(",")})` : "users"), "@odata.deltaLink": `${ctx.req.origin}/v1.0/users/delta?$deltatoken=${encodeToken(link)}`, value: [] },
        applied,
      );
    }
    if (deltaToken || skipToken) {
      const raw = (deltaToken ?? skipToken) as string;
      const decoded = decodeToken<DeltaLinkState | SkipState>(raw);
      if (!decoded || (decoded.k !== "d" && decoded.k !== "s") || typeof decoded.b !== "number" || typeof decoded.t !== "string") {
        return this.cerr(ctx, 400, "Request_BadRequest", "The provided delta token or skip token is malformed.");
      }
      if (decoded.t !== t.id) return this.cerr(ctx, 400, "Request_BadRequest", "The delta token or skip token was issued for another tenant.");
      const expired: "syncStateNotFound" | "gone" | undefined = decoded.e < t.deltaEpoch ? t.expiredHow : now - decoded.at > DELTA_MAX_AGE_MS ? "gone" : undefined;
      if (expired === "syncStateNotFound") {
        return this.cerr(ctx, 400, "syncStateNotFound", "The sync state generation is not found. Delta tokens may have expired; restart the sync from the beginning.");
      }
      if (expired === "gone") {
        const loc = `${ctx.req.origin}/v1.0/users/delta${decoded.s ? `?$select=${decoded.s.join(",")}` : ""}`;
        const res = this.cerr(ctx, 410, "resyncRequired", "Resync required. Replace any local cached copy of the users with the server's copy; the Location header holds the URL to restart the sync.");
        res.headers["location"] = loc;
        return res;
      }
      state = decoded.k === "d" ? { k: "s", t: t.id, s: decoded.s, i: 0, b: decoded.b, v: t.version, c: 0, d: [], at: now, e: t.deltaEpoch } : decoded;
    } else {
      for (const p of ["$top", "$orderby", "$expand", "$filter", "$search", "$count"]) {
        if (q.has(p)) return this.cerr(ctx, 400, "Request_UnsupportedQuery", `The query parameter '${p}' is not supported with delta queries on users.`);
      }
      const sel = this.parseSelect(ctx, q.get("$select"), false, true);
      if (sel && "status" in sel) return sel;
      state = { k: "s", t: t.id, s: sel ?? null, i: 1, b: 0, v: t.version, c: 0, d: [], at: now, e: t.deltaEpoch };
    }
    const props = state.s ?? DEFAULT_SELECT;
    const contextUrl = this.context(ctx, state.s ? `users(${props.join(",")})` : "users");
    const pageSize = Math.max(1, this.knobs.pageSize);

    const renderRecord = (r: UserRecord): Record<string, unknown> | undefined => {
      if (state.i === 1) return r.softDeleted || r.hardDeleted ? undefined : render(r.user, props);
      const b = state.b;
      if (r.version <= b) return undefined;
      if (r.hardDeleted) return r.deletedVersion > b ? { id: r.user.id, "@removed": { reason: "deleted" } } : undefined;
      if (r.softDeleted) return r.deletedVersion > b ? { id: r.user.id, "@removed": { reason: "changed" } } : undefined;
      if (r.createdVersion > b || r.restoredVersion > b) return render(r.user, props);
      const changed = props.filter((p) => p !== "id" && (r.pv[p] ?? r.createdVersion) > b);
      if (changed.length === 0) return undefined;
      return minimal ? render(r.user, changed) : render(r.user, props);
    };

    const next = (s: SkipState) => `${ctx.req.origin}/v1.0/users/delta?$skiptoken=${encodeToken({ ...s, at: now })}`;

    // an empty page that still carries a nextLink
    if (this.knobs.emptyPageRate > 0 && this.knobs.rng() < this.knobs.emptyPageRate) {
      return this.ok(ctx, 200, { "@odata.context": contextUrl, "@odata.nextLink": next(state), value: [] }, applied);
    }

    const value: Record<string, unknown>[] = [];
    for (const id of state.d) {
      const r = t.users.get(id);
      const v = r ? renderRecord(r) : undefined;
      if (v) value.push(v);
    }
    const repeatNext: string[] = [];
    let c = state.c;
    const room = Math.max(1, pageSize - value.length);
    let taken = 0;
    for (; c < t.ordered.length && taken < room; c++) {
      const r = t.ordered[c]!;
      const v = renderRecord(r);
      if (!v) continue;
      value.push(v);
      taken++;
      if (this.knobs.duplicateRate > 0 && this.knobs.rng() < this.knobs.duplicateRate) repeatNext.push(r.user.id);
    }
    const body: Record<string, unknown> = { "@odata.context": contextUrl };
    if (c < t.ordered.length || repeatNext.length > 0) {
      body["@odata.nextLink"] = next({ ...state, c, d: repeatNext });
    } else {
      const link: DeltaLinkState = { k: "d", t: t.id, s: state.s, b: state.v, at: now, e: t.deltaEpoch };
      body["@odata.deltaLink"] = `${ctx.req.origin}/v1.0/users/delta?$deltatoken=${encodeToken(link)}`;
    }
    body["value"] = value;
    return this.ok(ctx, 200, body, applied);
  }

  // ------------------------------------------------------------------ applications, domains

  private renderApp(ctx: Ctx, appId: string): Record<string, unknown> | undefined {
    const a = ctx.tenant.apps.get(appId.toLowerCase());
    if (!a) return undefined;
    const full: Record<string, unknown> = {
      id: a.objectId,
      appId: a.clientId,
      displayName: a.displayName,
      passwordCredentials: a.secrets.map((s) => ({
        customKeyIdentifier: null,
        displayName: s.displayName,
        endDateTime: s.endDateTime,
        hint: s.hint,
        keyId: s.keyId,
        secretText: null,
        startDateTime: s.startDateTime,
      })),
    };
    const sel = ctx.req.url.searchParams.get("$select");
    if (!sel) return full;
    const out: Record<string, unknown> = {};
    for (const name of sel.split(",").map((s) => s.trim()).filter(Boolean)) {
      const k = Object.keys(full).find((x) => x.toLowerCase() === name.toLowerCase());
      if (k) out[k] = full[k];
    }
    return out;
  }

  private getApplication(ctx: Ctx, by: { appId?: string; objectId?: string }): SimResponse {
    let appId = by.appId;
    if (by.objectId !== undefined) appId = [...ctx.tenant.apps.values()].find((a) => a.objectId === by.objectId?.toLowerCase())?.clientId;
    const body = appId ? this.renderApp(ctx, appId) : undefined;
    if (!body) {
      const key = by.appId !== undefined ? `applications(appId='${by.appId}')` : (by.objectId ?? "");
      return this.cerr(ctx, 404, "Request_ResourceNotFound", `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
    }
    return this.ok(ctx, 200, { "@odata.context": this.context(ctx, "applications/$entity"), ...body });
  }

  private listApplications(ctx: Ctx): SimResponse {
    const f = ctx.req.url.searchParams.get("$filter");
    let apps = [...ctx.tenant.apps.values()];
    if (f) {
      const m = /^\s*appId\s+eq\s+'([^']*)'\s*$/i.exec(f);
      if (!m) return this.cerr(ctx, 400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property of resource 'Application'.");
      apps = apps.filter((a) => a.clientId === (m[1] ?? "").toLowerCase());
    }
    const value = apps.map((a) => this.renderApp(ctx, a.clientId)).filter((x): x is Record<string, unknown> => x !== undefined);
    return this.ok(ctx, 200, { "@odata.context": this.context(ctx, "applications"), value });
  }

  private listDomains(ctx: Ctx): SimResponse {
    return this.ok(ctx, 200, { "@odata.context": this.context(ctx, "domains"), value: [...ctx.tenant.domains.values()].map((d) => ({ ...d })) });
  }

  private getDomain(ctx: Ctx, name: string): SimResponse {
    const d = ctx.tenant.domains.get(name.toLowerCase());
    if (!d) return this.cerr(ctx, 404, "Request_ResourceNotFound", `Resource '${name}' does not exist or one of its queried reference-property objects are not present.`);
    return this.ok(ctx, 200, { "@odata.context": this.context(ctx, "domains/$entity"), ...d });
  }

  // ------------------------------------------------------------------ $batch

  private batch(req: SimRequest): SimResponse {
    const ids = { requestId: guid(), clientRequestId: req.headers["client-request-id"] ?? guid() };
    const finish = (res: SimResponse): SimResponse => {
      res.headers["request-id"] = ids.requestId;
      res.headers["client-request-id"] = ids.clientRequestId;
      res.headers["x-ms-resource-unit"] ??= "0";
      return res;
    };
    const auth = this.authenticate(req);
    if (!("tid" in auth)) return finish(this.err(req, ids, auth.status, "InvalidAuthenticationToken", auth.message));
    const tenantId = auth.tid;
    const fault = this.faults.match(req.method, displayPath(req.url), tenantId);
    if (fault) {
      if (fault.resetConnection) return { status: 0, headers: {}, resetConnection: true };
      const lower: Record<string, string> = {};
      for (const [k, v] of Object.entries(fault.headers ?? (fault.status === 429 ? { "retry-after": "1" } : {}))) lower[k.toLowerCase()] = v;
      if (fault.body !== undefined) return finish({ status: fault.status, headers: { "content-type": "application/json", ...lower }, body: fault.body, tenantId });
      const code = fault.status === 429 ? "TooManyRequests" : fault.status >= 500 ? "ServiceUnavailable" : "BadRequest";
      return finish({ ...this.err(req, ids, fault.status, code, `Injected fault ${fault.status}`, undefined, lower), tenantId });
    }
    const bad = (message: string) => {
      const r = finish(this.err(req, ids, 400, "BadRequest", message));
      r.tenantId = tenantId;
      return r;
    };
    const parsed = parseJsonBody(req.bodyText);
    if (!parsed.ok || !isRecord(parsed.value) || !Array.isArray(parsed.value["requests"])) return bad("Invalid batch payload format.");
    const list = parsed.value["requests"] as unknown[];
    if (list.length === 0) return bad("Invalid batch payload format: at least one request is required.");
    if (list.length > 20) return bad("Maximum number of requests allowed in a batch is 20.");
    interface Inner {
      id: string;
      method: string;
      url: string;
      headers: Record<string, string>;
      body: unknown;
      dependsOn: string[];
    }
    const inners: Inner[] = [];
    const seen = new Set<string>();
    for (const raw of list) {
      if (!isRecord(raw) || typeof raw["id"] !== "string" || typeof raw["method"] !== "string" || typeof raw["url"] !== "string") {
        return bad("Invalid batch payload format: each request needs id, method and url.");
      }
      if (seen.has(raw["id"])) return bad(`Request id '${raw["id"]}' is duplicated in the batch.`);
      seen.add(raw["id"]);
      const headers: Record<string, string> = {};
      if (isRecord(raw["headers"])) for (const [k, v] of Object.entries(raw["headers"])) headers[k.toLowerCase()] = String(v);
      const dependsOn = Array.isArray(raw["dependsOn"]) ? raw["dependsOn"].map(String) : [];
      inners.push({ id: raw["id"], method: raw["method"].toUpperCase(), url: raw["url"], headers, body: raw["body"], dependsOn });
    }
    for (const r of inners) for (const d of r.dependsOn) if (!seen.has(d)) return bad(`Request '${r.id}' depends on unknown request '${d}'.`);
    // order respecting dependsOn
    const order: Inner[] = [];
    const placed = new Set<string>();
    while (order.length < inners.length) {
      const nextOne = inners.find((r) => !placed.has(r.id) && r.dependsOn.every((d) => placed.has(d)));
      if (!nextOne) return bad("The dependsOn graph of the batch contains a cycle.");
      order.push(nextOne);
      placed.add(nextOne.id);
    }
    const statusById = new Map<string, number>();
    const responses: Array<Record<string, unknown>> = [];
    for (const inner of order) {
      let res: SimResponse;
      const failedDep = inner.dependsOn.find((d) => {
        const s = statusById.get(d) ?? 0;
        return s < 200 || s >= 300;
      });
      let innerReq: SimRequest | undefined;
      if (failedDep !== undefined) {
        res = this.err(req, { requestId: guid(), clientRequestId: guid() }, 424, "FailedDependency", `The request depends on request '${failedDep}', which failed.`);
      } else {
        let path = inner.url;
        if (/^https?:\/\//i.test(path)) {
          try {
            const u = new URL(path);
            path = u.pathname + u.search;
          } catch {
            path = "/";
          }
        }
        if (!path.startsWith("/")) path = `/${path}`;
        if (!/^\/v1\.0(\/|$)/i.test(path)) path = `/v1.0${path}`;
        innerReq = {
          method: inner.method,
          url: new URL(path, req.origin),
          headers: { ...inner.headers, ...(req.headers["authorization"] ? { authorization: req.headers["authorization"] } : {}) },
          bodyText: inner.body === undefined ? "" : typeof inner.body === "string" ? inner.body : JSON.stringify(inner.body),
          origin: req.origin,
          inBatch: true,
        };
        const sub = innerReq.url.pathname.replace(/^\/v1\.0/i, "").replace(/\/+$/, "") || "/";
        res = sub === "/$batch" ? this.err(req, ids, 400, "BadRequest", "A batch request cannot contain a batch request.") : this.single(innerReq, sub);
        this.hooks.onInner(innerReq, res);
      }
      statusById.set(inner.id, res.status);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        const name = k === "content-type" ? "Content-Type" : k === "retry-after" ? "Retry-After" : k === "location" ? "Location" : k;
        headers[name] = v;
      }
      const entry: Record<string, unknown> = { id: inner.id, status: res.status, headers };
      if (res.body !== undefined) entry["body"] = res.body;
      responses.push(entry);
    }
    // Graph does not keep the request order: shuffle so that clients match responses by id
    for (let i = responses.length - 1; i > 0; i--) {
      const j = Math.floor(this.knobs.rng() * (i + 1));
      const a = responses[i]!;
      responses[i] = responses[j]!;
      responses[j] = a;
    }
    const res = finish({ status: 200, headers: { "content-type": GRAPH_CONTENT_TYPE }, body: { responses } });
    res.tenantId = tenantId;
    return res;
  }
}
