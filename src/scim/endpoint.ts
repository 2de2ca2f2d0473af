import { randomUUID } from "node:crypto";
import type { ConnectorSpace } from "../connector/space.js";
import type { PlatformDirectory, StoredPlatformUser } from "../directory/directory.js";
import type { PlatformUser } from "../directory/types.js";
import { EntraSyncError, ensureError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ScimAudit } from "./audit.js";
import { badRequest, notFound, ScimError } from "./errors.js";
import { keyOf, matchesAll, parseFilter, type Comparison } from "./filter.js";
import type { ScimGroupStore, StoredGroup } from "./groups.js";
import { applyPatch, operationsOf, refuseDangerousKeys, type PatchOperation } from "./patch.js";
import type { RateLimiter } from "./rate-limit.js";
import { DEFAULT_COUNT, listResponse, MAX_RESULTS, resourceTypesFor, schemasFor, serviceProviderConfig, URN, type CustomExtension } from "./schemas.js";
import type { ScimTokenStore } from "./tokens.js";
import { changedAttributes, checkUserDocument, DEFAULT_SCIM_CONFIG, isRemoved, platformUserFrom, renderUser, versionOf, type TenantScimConfig } from "./users.js";
import type { AuditContext } from "../audit/entry.js";

/** SCIM writes join the audit log (values, masked where sensitive), in the same transaction as the write. */
const SCIM_AUDIT: AuditContext = { source: "scim" };

type Json = unknown;
type Obj = Record<string, Json>;
const isObject = (v: Json): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** One SCIM request as the HTTP trigger hands it over. */
export interface ScimRequest {
  method: string;
  /** The full request URL (its path gives the base for `meta.location`). */
  url: string;
  /** The tenant segment of the URL (`/scim/v2/<tenant>/…`): must be the token's own. */
  tenantId: string;
  /** Users, Groups, Schemas, ResourceTypes, ServiceProviderConfig (any case). */
  resource: string;
  id?: string | undefined;
  header(name: string): string | null;
  body: string;
}

export interface ScimAnswer {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

export interface ScimEndpointDeps {
  directory: PlatformDirectory;
  tokens: Pick<ScimTokenStore, "verify">;
  audit: Pick<ScimAudit, "record">;
  groups: ScimGroupStore;
  limiter: RateLimiter;
  clock: () => Date;
  log: Logger;
  /** The tenant's custom extension attributes and where they land (default: none declared, kept under "scim."). */
  tenantConfig?: (tenantId: string) => Promise<TenantScimConfig & { extensions: CustomExtension[] }>;
  /** Largest request body accepted, in bytes (default 256 KiB). */
  maxBodyBytes?: number;
  /**
   * The connector space, for tenants whose DELETE erases: the erased user's match is released there first, so that
   * neither update sync nor Immutable ID sync goes on treating the Entra user as matched to it.
   */
  connector?: Pick<ConnectorSpace, "get" | "putMany">;
}

export const MAX_BODY_BYTES = 256 * 1024;
const CONTENT_TYPE = "application/scim+json; charset=utf-8";

interface Caller {
  tenantId: string;
  tokenId: string;
}

/**
 * The SCIM 2.0 endpoint through which Entra's provisioning service creates and keeps platform users of one tenant
 * (RFC 7643/7644 as Entra uses them). The tenant comes from the Secret Token alone; the URL's tenant must be the
 * token's. Every answer, errors included, is `application/scim+json`; no answer carries a stack or a token.
 */
export class ScimEndpoint {
  constructor(private readonly deps: ScimEndpointDeps) {}

  async handle(req: ScimRequest): Promise<ScimAnswer> {
    try {
      const caller = await this.authenticate(req);
      const wait = this.deps.limiter.take(caller.tokenId);
      if (wait > 0) throw new ScimError(429, `Too many requests for this token; retry after ${wait} s.`, undefined, { retryAfterSeconds: wait });
      const size = Number(req.header("content-length") ?? Buffer.byteLength(req.body));
      const max = this.deps.maxBodyBytes ?? MAX_BODY_BYTES;
      if (size > max || Buffer.byteLength(req.body) > max) throw new ScimError(413, `The request body is larger than ${max} bytes.`);
      return await this.route(req, caller);
    } catch (e) {
      return this.errorAnswer(e, req);
    }
  }

  private async authenticate(req: ScimRequest): Promise<Caller> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.header("authorization") ?? "");
    const found = m ? await this.deps.tokens.verify(m[1]!) : undefined;
    // One answer for a missing, malformed, unknown, revoked or other tenant's token: nothing to learn from it.
    if (!found || found.tenantId.toLowerCase() !== req.tenantId.toLowerCase()) throw new ScimError(401, "Authentication failed.");
    return found;
  }

  private async route(req: ScimRequest, caller: Caller): Promise<ScimAnswer> {
    const method = req.method.toUpperCase();
    const resource = req.resource.toLowerCase();
    const base = baseOf(req.url);
    const config = await (this.deps.tenantConfig?.(caller.tenantId) ?? Promise.resolve({ ...DEFAULT_SCIM_CONFIG, extensions: [] }));
    const query = new URL(req.url).searchParams;
    if (resource === "serviceproviderconfig" && method === "GET" && !req.id) return ok(serviceProviderConfig(base));
    if (resource === "resourcetypes" && method === "GET") return ok(oneOrList(resourceTypesFor(base, config.extensions), req.id, "ResourceType"));
    if (resource === "schemas" && method === "GET") return ok(oneOrList(schemasFor(base, config.extensions), req.id, "Schema"));
    if (resource === "users") {
      if (method === "GET" && !req.id) return ok(await this.queryUsers(caller, query, base));
      if (method === "GET") return this.userAnswer(200, await this.requireUser(caller, req.id!), base, query);
      if (method === "POST" && !req.id) return this.createUser(caller, parseBody(req), base, config);
      if (method === "PATCH" && req.id) return this.changeUser(caller, req, base, config, (current) => applyPatch(current, withFullUrns(operationsOf(parseBody(req)), config.extensions)), "update");
      if (method === "PUT" && req.id) {
        const body = parseBody(req);
        return this.changeUser(caller, req, base, config, () => checkUserDocument(body), "replace");
      }
      if (method === "DELETE" && req.id) return this.deleteUser(caller, req, config);
    }
    if (resource === "groups") {
      if (method === "GET" && !req.id) return ok(await this.queryGroups(caller, query, base));
      if (method === "GET") return ok(await this.renderGroup(caller.tenantId, await this.requireGroup(caller, req.id!), base, query));
      if (method === "POST" && !req.id) return this.createGroup(caller, parseBody(req), base);
      if ((method === "PATCH" || method === "PUT") && req.id) return this.changeGroup(caller, req, method);
      if (method === "DELETE" && req.id) return this.deleteGroup(caller, req);
    }
    throw new ScimError(404, `No ${method} ${req.resource}${req.id ? "/{id}" : ""} here: the endpoint serves /Users, /Groups, /Schemas, /ResourceTypes and /ServiceProviderConfig.`);
  }

  // ---- Users ----

  private async requireUser(caller: Caller, id: string): Promise<StoredPlatformUser> {
    // An id no user can have (Table Storage refuses such keys) is simply not found.
    if (!/^[^/\\#?\u0000-\u001f\u007f-\u009f]{1,512}$/.test(id)) throw notFound(`User ${id.slice(0, 80)}`);
    const u = await this.deps.directory.get(caller.tenantId, id);
    if (!u || isRemoved(u)) throw notFound(`User ${id}`);
    return u;
  }

  private userAnswer(status: number, u: StoredPlatformUser, base: string, query?: URLSearchParams): ScimAnswer {
    const body = project(renderUser(u, base), query);
    return { status, headers: { "Content-Type": CONTENT_TYPE, ETag: versionOf(u.etag), Location: `${base}/Users/${encodeURIComponent(u.id)}` }, body };
  }

  private async queryUsers(caller: Caller, query: URLSearchParams, base: string) {
    const filterText = query.get("filter");
    const comparisons = filterText ? parseFilter(filterText) : [];
    const { startIndex, count } = paging(query);
    const candidates = await this.userCandidates(caller.tenantId, comparisons);
    const matched = candidates.filter((u) => !isRemoved(u)).map((u) => renderUser(u, base)).filter((r) => matchesAll(r, comparisons));
    matched.sort((a, b) => String(a.id).localeCompare(String(b.id)));
    const page = matched.slice(startIndex - 1, startIndex - 1 + count).map((r) => project(r, query));
    return listResponse(page, matched.length, startIndex);
  }

  /** Users that can match: found through the directory's index when the filter names an indexed attribute, else all. */
  private async userCandidates(tenantId: string, comparisons: readonly Comparison[]): Promise<StoredPlatformUser[]> {
    for (const c of comparisons) {
      if (c.path.urn && c.path.urn.toLowerCase() !== URN.user.toLowerCase()) continue;
      const attr = c.path.attr.toLowerCase();
      if (attr === "id" && !c.path.sub && !c.path.filter) {
        const u = await this.deps.directory.get(tenantId, c.value).catch(() => undefined);
        return u ? [u] : [];
      }
      const indexed = attr === "username" && !c.path.sub ? "userName" : attr === "externalid" && !c.path.sub ? "externalId" : attr === "emails" && (!c.path.sub || c.path.sub.toLowerCase() === "value") ? "email" : undefined;
      if (indexed) return (await this.deps.directory.findBy(tenantId, indexed, [c.value])).get(c.value) ?? [];
    }
    const all: StoredPlatformUser[] = [];
    for await (const u of this.deps.directory.list(tenantId)) all.push(u);
    return all;
  }

  private async createUser(caller: Caller, body: Json, base: string, config: TenantScimConfig): Promise<ScimAnswer> {
    const doc = checkUserDocument(body);
    const now = this.deps.clock().toISOString();
    const externalId = doc[keyOf(doc, "externalId") ?? ""] as string | undefined;
    // The same Entra user provisioned again after a DELETE gets its platform user back (data was only marked removed).
    // This read answers the common case early; what makes a duplicate impossible is the externalId claim written in
    // the same transaction as the user (see PlatformDirectory.create): of two concurrent POSTs one gets 409.
    let revived: StoredPlatformUser | undefined;
    const duplicate = () => new ScimError(409, `A user with externalId "${externalId}" already exists.`, "uniqueness");
    if (externalId) {
      const same = (await this.deps.directory.findBy(caller.tenantId, "externalId", [externalId])).get(externalId) ?? [];
      if (same.some((u) => !isRemoved(u))) throw duplicate();
      revived = same.find(isRemoved);
    }
    let stored: StoredPlatformUser;
    if (revived) {
      const after: PlatformUser = { ...platformUserFrom(doc, revived.id, caller.tenantId, { ...revived, inactiveAt: undefined }, now, config), entraRemovedAt: undefined, entraRemovedReason: undefined };
      try {
        stored = await this.deps.directory.replace(caller.tenantId, revived, after, SCIM_AUDIT);
      } catch (e) {
        // Another request revived (or changed) the same user meanwhile: the same Entra user exists again.
        if (e instanceof EntraSyncError && e.code === "STORAGE_CONFLICT") throw duplicate();
        throw e;
      }
    } else stored = await this.deps.directory.create(caller.tenantId, platformUserFrom(doc, randomUUID(), caller.tenantId, undefined, now, config), SCIM_AUDIT);
    await this.record(caller, "create", "User", stored.id, changedAttributes({}, doc), 201);
    return this.userAnswer(201, stored, base);
  }

  private async changeUser(caller: Caller, req: ScimRequest, base: string, config: TenantScimConfig, change: (current: Obj) => Obj, operation: "update" | "replace"): Promise<ScimAnswer> {
    const ifMatch = req.header("if-match");
    for (let attempt = 0; ; attempt++) {
      const current = await this.requireUser(caller, req.id!);
      if (ifMatch && !etagMatches(ifMatch, versionOf(current.etag))) throw new ScimError(412, "The user changed since the version given in If-Match; read it again.");
      const before = renderUser(current, base);
      const { schemas: _s, id: _i, meta: _m, ...editable } = before;
      const doc = checkUserDocument(change(editable));
      const now = this.deps.clock().toISOString();
      const after = platformUserFrom(doc, current.id, caller.tenantId, current, now, config);
      const changed = changedAttributes(editable, doc);
      if (changed.length === 0) return this.userAnswer(200, current, base); // a PATCH that changes nothing is a success
      try {
        const stored = await this.deps.directory.replace(caller.tenantId, current, after, SCIM_AUDIT);
        const active = (x: Obj) => x.active !== false;
        const op = active(editable) && !active(doc) ? "deactivate" : !active(editable) && active(doc) ? "reactivate" : operation;
        await this.record(caller, op, "User", current.id, changed, 200);
        return this.userAnswer(200, stored, base);
      } catch (e) {
        // Someone wrote the user meanwhile: apply the change again to what is there now (without If-Match only).
        if (e instanceof EntraSyncError && e.code === "STORAGE_CONFLICT" && !ifMatch && attempt < 3) continue;
        throw e;
      }
    }
  }

  private async deleteUser(caller: Caller, req: ScimRequest, config: TenantScimConfig): Promise<ScimAnswer> {
    const current = await this.requireUser(caller, req.id!);
    const ifMatch = req.header("if-match");
    if (ifMatch && !etagMatches(ifMatch, versionOf(current.etag))) throw new ScimError(412, "The user changed since the version given in If-Match; read it again.");
    if (config.onDelete === "erase") {
      const erase = this.deps.directory.erase?.bind(this.deps.directory);
      if (!erase) throw new EntraSyncError("CONFIG_INVALID", "This platform directory cannot erase users; set the tenant's SCIM delete mode back to mark (entra-sync scim settings set --delete mark).");
      // The match and the group memberships go first: should the erase then fail, Entra sends the DELETE again, and a
      // released match of a user that still exists is only looked at again by the next runs (never a wrong user).
      await this.releaseMatch(caller.tenantId, current);
      await this.deps.groups.dropMember(caller.tenantId, current.id);
      await erase(caller.tenantId, current);
      await this.record(caller, "erase", "User", current.id, [], 204);
      return { status: 204, headers: {} };
    }
    // Marked removed as update sync marks a user deleted in Entra: nothing is erased, and its userName is free again.
    const after = { ...current, entraRemovedAt: this.deps.clock().toISOString(), entraRemovedReason: "deleted" as const, uniqueUserName: false };
    await this.deps.directory.replace(caller.tenantId, current, after, SCIM_AUDIT);
    await this.record(caller, "delete", "User", current.id, [], 204);
    return { status: 204, headers: {} };
  }

  /**
   * The connector row matched to a user about to be erased (its id is the user's externalId, the Entra object id)
   * loses the match and is marked for Immutable ID sync to look at again: its plan no longer proposes a value from
   * the erased user, and update sync, which matches again from the directory whenever the Entra user changes, finds
   * no platform user and counts it unmatched. Update sync never creates a platform user, so nothing brings it back.
   */
  private async releaseMatch(tenantId: string, user: StoredPlatformUser): Promise<void> {
    if (!this.deps.connector || !user.externalId) return;
    const row = await this.deps.connector.get(tenantId, user.externalId);
    if (!row || row.platformUserId !== user.id) return;
    await this.deps.connector.putMany(tenantId, [{ ...row, match: "unmatched", platformUserId: undefined }]);
  }

  // ---- Groups ----

  private async requireGroup(caller: Caller, id: string): Promise<StoredGroup> {
    const g = await this.deps.groups.get(caller.tenantId, id);
    if (!g) throw notFound(`Group ${id}`);
    return g;
  }

  private async renderGroup(tenantId: string, g: StoredGroup, base: string, query: URLSearchParams): Promise<Obj> {
    const excluded = attributeList(query.get("excludedAttributes"));
    const wanted = attributeList(query.get("attributes"));
    const withMembers = !excluded.has("members") && (wanted.size === 0 || wanted.has("members"));
    const r: Obj = { schemas: [URN.group], id: g.id, ...g.document, displayName: g.displayName };
    if (withMembers) r.members = (await this.deps.groups.members(tenantId, g.id)).map((value) => ({ value, $ref: `${base}/Users/${encodeURIComponent(value)}` }));
    r.meta = { resourceType: "Group", created: g.created, lastModified: g.lastModified, location: `${base}/Groups/${g.id}`, version: versionOf(g.etag) };
    return project(r, query);
  }

  private async queryGroups(caller: Caller, query: URLSearchParams, base: string) {
    const filterText = query.get("filter");
    const comparisons = filterText ? parseFilter(filterText) : [];
    const { startIndex, count } = paging(query);
    const all = await this.deps.groups.list(caller.tenantId);
    const needsMembers = comparisons.some((c) => c.path.attr.toLowerCase() === "members");
    const matched: StoredGroup[] = [];
    for (const g of all) {
      const probe: Obj = { id: g.id, ...g.document, displayName: g.displayName };
      if (needsMembers) probe.members = (await this.deps.groups.members(caller.tenantId, g.id)).map((value) => ({ value }));
      if (matchesAll(probe, comparisons)) matched.push(g);
    }
    matched.sort((a, b) => a.id.localeCompare(b.id));
    const page = await Promise.all(matched.slice(startIndex - 1, startIndex - 1 + count).map((g) => this.renderGroup(caller.tenantId, g, base, query)));
    return listResponse(page, matched.length, startIndex);
  }

  private async createGroup(caller: Caller, body: Json, base: string): Promise<ScimAnswer> {
    if (!isObject(body)) throw badRequest("A Group must be a JSON object.");
    const displayName = body[keyOf(body, "displayName") ?? ""];
    if (typeof displayName !== "string" || !displayName.trim()) throw badRequest("displayName is required and must be a non-empty string.", "invalidValue");
    const { document, members } = splitGroup(body);
    const now = this.deps.clock().toISOString();
    const g = await this.deps.groups.create(caller.tenantId, displayName, document, members, now);
    await this.record(caller, "group-create", "Group", g.id, ["displayName", ...(members.length ? ["members"] : [])], 201);
    const r = await this.renderGroup(caller.tenantId, g, base, new URLSearchParams());
    return { status: 201, headers: { "Content-Type": CONTENT_TYPE, ETag: versionOf(g.etag), Location: `${base}/Groups/${g.id}` }, body: r };
  }

  private async changeGroup(caller: Caller, req: ScimRequest, method: string): Promise<ScimAnswer> {
    const body = parseBody(req);
    for (let attempt = 0; ; attempt++) {
      const g = await this.requireGroup(caller, req.id!);
      const ifMatch = req.header("if-match");
      if (ifMatch && !etagMatches(ifMatch, versionOf(g.etag))) throw new ScimError(412, "The group changed since the version given in If-Match; read it again.");
      const members = await this.deps.groups.members(caller.tenantId, g.id);
      const before: Obj = { ...g.document, displayName: g.displayName, members: members.map((value) => ({ value })) };
      const after = method === "PUT" ? { members: [], ...(isObject(body) ? body : {}) } : applyPatch(before, operationsOf(body));
      const displayName = after[keyOf(after, "displayName") ?? "displayName"];
      if (typeof displayName !== "string" || !displayName.trim()) throw badRequest("displayName must stay a non-empty string.", "invalidValue");
      const split = splitGroup(after);
      const was = new Set(members);
      const now = new Set(split.members);
      const add = [...now].filter((m) => !was.has(m));
      const remove = [...was].filter((m) => !now.has(m));
      try {
        await this.deps.groups.update(caller.tenantId, g, displayName, split.document, add, remove, this.deps.clock().toISOString());
      } catch (e) {
        if (e instanceof EntraSyncError && e.code === "STORAGE_CONFLICT" && !ifMatch && attempt < 3) continue;
        throw e;
      }
      const changed = [...changedAttributes({ ...g.document, displayName: g.displayName }, { ...split.document, displayName }), ...(add.length || remove.length ? ["members"] : [])];
      await this.record(caller, "group-update", "Group", g.id, changed, 204);
      // Microsoft: a group PATCH answers 204; a body listing every member is not advisable.
      return { status: 204, headers: {} };
    }
  }

  private async deleteGroup(caller: Caller, req: ScimRequest): Promise<ScimAnswer> {
    const g = await this.requireGroup(caller, req.id!);
    await this.deps.groups.remove(caller.tenantId, g);
    await this.record(caller, "group-delete", "Group", g.id, [], 204);
    return { status: 204, headers: {} };
  }

  // ---- common ----

  private async record(caller: Caller, operation: string, resource: "User" | "Group", resourceId: string, attributes: string[], status: number): Promise<void> {
    await this.deps.audit.record({ tenantId: caller.tenantId, tokenId: caller.tokenId, operation, resource, resourceId, attributes, status, at: this.deps.clock().toISOString() });
  }

  private errorAnswer(e: unknown, req: ScimRequest): ScimAnswer {
    let status = 500;
    let scimType: string | undefined;
    let detail = "The request could not be completed; try again later.";
    const headers: Record<string, string> = { "Content-Type": CONTENT_TYPE };
    if (e instanceof ScimError) {
      status = e.status;
      scimType = e.scimType;
      detail = e.message;
      if (status === 401) headers["WWW-Authenticate"] = 'Bearer realm="scim"';
      if (status === 429 && e.retryAfterSeconds) headers["Retry-After"] = String(e.retryAfterSeconds);
    } else if (e instanceof EntraSyncError && e.code === "DIRECTORY_DUPLICATE") {
      status = 409;
      scimType = "uniqueness";
      detail = e.message;
    } else if (e instanceof EntraSyncError && e.code === "INPUT_INVALID") {
      status = 400;
      scimType = "invalidValue";
      detail = e.message;
    } else if (e instanceof EntraSyncError && e.code === "STORAGE_CONFLICT") {
      status = 409;
      detail = "The resource kept changing while this request was applied; send it again.";
    } else {
      const err = ensureError(e);
      // Logged by code and message only: no stack, no request body, never the token.
      this.deps.log.error(`scim ${req.method} ${req.resource}: ${e instanceof EntraSyncError ? e.code : "INTERNAL"} ${err.message}`);
      if (e instanceof EntraSyncError && e.retryable) status = 503;
    }
    return { status, headers, body: { schemas: [URN.error], status: String(status), ...(scimType ? { scimType } : {}), detail } };
  }
}

const ok = (body: unknown): ScimAnswer => ({ status: 200, headers: { "Content-Type": CONTENT_TYPE }, body });

/** `https://host/api/scim/v2/<tenant>` of a request URL (everything before the resource segment). */
function baseOf(url: string): string {
  const u = new URL(url);
  const m = /^(.*\/scim\/v2\/[^/]+)/i.exec(u.pathname);
  return `${u.origin}${m ? m[1] : ""}`;
}

function parseBody(req: ScimRequest): Json {
  const type = req.header("content-type");
  if (type && !/json/i.test(type)) throw new ScimError(415, `Content-Type must be application/scim+json or application/json; got "${type.slice(0, 60)}".`);
  if (!req.body.trim()) throw badRequest("The request needs a JSON body.");
  let body: Json;
  try {
    body = JSON.parse(req.body);
  } catch {
    throw badRequest("The body is not valid JSON.");
  }
  refuseDangerousKeys(body);
  return body;
}

/** RFC 7644 §3.4.2.4: startIndex is 1-based (below 1 reads as 1), count below 0 reads as 0; count is capped. */
function paging(q: URLSearchParams): { startIndex: number; count: number } {
  const int = (name: string, fallback: number) => {
    const v = q.get(name);
    if (v === null || v === "") return fallback;
    if (!/^-?\d+$/.test(v.trim())) throw badRequest(`${name} must be an integer; got "${v.slice(0, 20)}".`, "invalidValue");
    return Number(v);
  };
  return { startIndex: Math.max(1, int("startIndex", 1)), count: Math.min(MAX_RESULTS, Math.max(0, int("count", DEFAULT_COUNT))) };
}

function attributeList(v: string | null): Set<string> {
  return new Set((v ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/** Applies `attributes` / `excludedAttributes` (top-level names; id, schemas and meta are always returned). */
function project(r: Obj, query: URLSearchParams | undefined): Obj {
  if (!query) return r;
  const wanted = attributeList(query.get("attributes"));
  const excluded = attributeList(query.get("excludedAttributes"));
  if (!wanted.size && !excluded.size) return r;
  const out: Obj = {};
  for (const [k, v] of Object.entries(r)) {
    const l = k.toLowerCase();
    const always = l === "id" || l === "schemas" || l === "meta";
    if (!always && (excluded.has(l) || (wanted.size && !wanted.has(l) && ![...wanted].some((w) => w.startsWith(`${l}.`))))) continue;
    out[k] = v;
  }
  return out;
}

function oneOrList(items: Array<{ id: string }>, id: string | undefined, what: string) {
  if (!id) return listResponse(items, items.length, 1);
  const one = items.find((i) => i.id.toLowerCase() === id.toLowerCase());
  if (!one) throw notFound(`${what} ${id}`);
  return one;
}

function etagMatches(ifMatch: string, version: string): boolean {
  return ifMatch.split(",").some((t) => t.trim() === "*" || t.trim() === version || t.trim() === version.slice(2));
}

/**
 * Entra sends attributes of a non-URN custom schema by a short name (`custom:zipcode`): when the tenant declared an
 * extension of that name, the path is read as its URN; any other short prefix is refused by name.
 */
function withFullUrns(ops: PatchOperation[], extensions: readonly CustomExtension[]): PatchOperation[] {
  const full = (path: string): string => {
    const m = /^([A-Za-z][\w-]*):([A-Za-z$][\w$.-]*)$/.exec(path.trim());
    if (!m || m[1]!.toLowerCase() === "urn") return path;
    const ext = extensions.find((e) => e.urn.split(":").at(-3)?.toLowerCase() === m[1]!.toLowerCase());
    if (!ext) throw badRequest(`PATCH path "${path.slice(0, 100)}": no custom extension "${m[1]}" is declared for this tenant (entra-sync scim attributes set).`, "invalidPath");
    return `${ext.urn}:${m[2]}`;
  };
  return ops.map((o) => {
    if (o.path) return { ...o, path: full(o.path) };
    if (isObject(o.value)) return { ...o, value: Object.fromEntries(Object.entries(o.value).map(([k, v]) => [full(k), v])) };
    return o;
  });
}

/** A group's members (ids, from `value`) apart from its other attributes. */
function splitGroup(body: Obj): { document: Obj; members: string[] } {
  const document: Obj = {};
  let members: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    const l = k.toLowerCase();
    if (l === "members") {
      if (!Array.isArray(v)) throw badRequest("members must be an array of {value}.", "invalidValue");
      members = v.map((m) => (isObject(m) ? m[keyOf(m, "value") ?? "value"] : m)).filter((x): x is string => typeof x === "string" && x !== "");
    } else if (l !== "id" && l !== "meta" && l !== "schemas" && l !== "displayname" && v !== null) document[k] = v;
  }
  return { document, members: [...new Set(members)] };
}
