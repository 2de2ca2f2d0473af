import { createHash } from "node:crypto";
import type { StoredPlatformUser } from "../directory/directory.js";
import type { PlatformUser } from "../directory/types.js";
import { badRequest } from "./errors.js";
import { keyOf } from "./filter.js";
import { URN } from "./schemas.js";

type Json = unknown;
type Obj = Record<string, Json>;
const isObject = (v: Json): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** What the platform user keeps of the SCIM representation (its `scimDocument`). */
interface StoredDocument {
  resource: Obj;
  created?: string;
  lastModified?: string;
}

/** The SCIM version (weak ETag) of a stored user: a digest of its Table Storage ETag, changing with every write. */
export const versionOf = (etag: string) => `W/"${createHash("sha256").update(etag).digest("base64url").slice(0, 22)}"`;

/** A user that SCIM no longer sees: deleted through SCIM, or marked removed by update sync. */
export const isRemoved = (u: PlatformUser) => !!u.entraRemovedAt;

function readDocument(u: PlatformUser): StoredDocument {
  if (!u.scimDocument) return { resource: {} };
  try {
    const d = JSON.parse(u.scimDocument) as StoredDocument;
    return isObject(d?.resource) ? d : { resource: {} };
  } catch {
    return { resource: {} };
  }
}

const pick = (o: Obj | undefined, name: string): Json => {
  if (!o) return undefined;
  const k = keyOf(o, name);
  return k === undefined ? undefined : o[k];
};
const asString = (v: Json): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The item of a multi-valued attribute the platform takes: of `type`, else the primary one, else the first. */
function preferred(list: Json, type: string): Obj | undefined {
  if (!Array.isArray(list)) return undefined;
  const items = list.filter(isObject);
  return items.find((i) => String(pick(i, "type") ?? "").toLowerCase() === type) ?? items.find((i) => pick(i, "primary") === true) ?? items[0];
}

/**
 * The SCIM User of a platform user. The representation Entra last sent is answered back as it was (so Entra sees no
 * difference and does not PATCH again), with the platform's own columns laid over it: they are the truth when update
 * sync or an import changed them since.
 */
export function renderUser(u: StoredPlatformUser, base: string): Obj {
  const doc = readDocument(u);
  const r: Obj = { ...doc.resource };
  r.id = u.id;
  if (u.externalId) r.externalId = u.externalId;
  if (u.userName) r.userName = u.userName;
  if (u.firstName || u.lastName) {
    const name: Obj = isObject(r.name) ? { ...r.name } : {};
    if (u.firstName) name[keyOf(name, "givenName") ?? "givenName"] = u.firstName;
    if (u.lastName) name[keyOf(name, "familyName") ?? "familyName"] = u.lastName;
    r.name = name;
  }
  if (u.email) {
    const emailsKey = keyOf(r, "emails") ?? "emails";
    const list = Array.isArray(r[emailsKey]) ? (r[emailsKey] as Json[]).map((x) => (isObject(x) ? { ...x } : x)) : [];
    const item = preferred(list, "work");
    if (item) item[keyOf(item, "value") ?? "value"] = u.email;
    else list.push({ value: u.email, type: "work", primary: true });
    r[emailsKey] = list;
  }
  r.active = !u.inactiveAt;
  const extensions = Object.keys(r).filter((k) => /^urn:/i.test(k) && isObject(r[k]));
  r.schemas = [URN.user, ...extensions];
  r.meta = {
    resourceType: "User",
    ...(doc.created ? { created: doc.created } : {}),
    ...(doc.lastModified ? { lastModified: doc.lastModified } : {}),
    location: `${base}/Users/${encodeURIComponent(u.id)}`,
    version: versionOf(u.etag),
  };
  // Ours, never the client's: the representation's key order puts them first, as RFC 7643's examples do.
  const { schemas, id, meta, ...rest } = r;
  return { schemas, id, ...rest, meta };
}

/**
 * A User representation as a client sent it (POST, PUT, or the result of a PATCH), checked: userName is required,
 * `active` is a boolean ("True"/"False" strings accepted), server-owned parts (`id`, `meta`, `schemas`) are dropped.
 * Extension blocks are kept whether or not `schemas` lists their URN (Entra omits custom ones).
 */
export function checkUserDocument(body: Json): Obj {
  if (!isObject(body)) throw badRequest("A User must be a JSON object.", "invalidSyntax");
  const out: Obj = {};
  for (const [k, v] of Object.entries(body)) {
    const l = k.toLowerCase();
    if (l === "id" || l === "meta" || l === "schemas" || v === null) continue; // Entra sends meta.resourceType; older samples send nulls
    out[k] = v;
  }
  const userName = pick(out, "userName");
  if (typeof userName !== "string" || !userName.trim()) throw badRequest("userName is required and must be a non-empty string.", "invalidValue");
  const ak = keyOf(out, "active");
  if (ak !== undefined) {
    const a = out[ak];
    if (typeof a === "string" && /^(true|false)$/i.test(a)) out[ak] = a.toLowerCase() === "true";
    else if (typeof a !== "boolean") throw badRequest(`active must be true or false; got ${JSON.stringify(a)?.slice(0, 40)}.`, "invalidValue");
  }
  const ek = keyOf(out, "externalId");
  if (ek !== undefined && typeof out[ek] !== "string") throw badRequest("externalId must be a string.", "invalidValue");
  for (const name of ["emails", "phoneNumbers", "addresses", "roles"]) {
    const k = keyOf(out, name);
    if (k !== undefined && !Array.isArray(out[k])) throw badRequest(`${name} must be an array.`, "invalidValue");
  }
  const nk = keyOf(out, "name");
  if (nk !== undefined && !isObject(out[nk])) throw badRequest("name must be an object (givenName, familyName …).", "invalidValue");
  return out;
}

/** Where custom extension attributes land in the platform user: a column, or `<prefix>.<name>` in extraAttributes. */
export interface CustomAttributeRule {
  urn: string;
  attribute: string;
  /** A platform column (e.g. idpIdentifier), or undefined: kept under the prefix. */
  column?: "idpIdentifier" | "eppn" | "ssn" | "birthDate" | "homePhone" | undefined;
}

export interface TenantScimConfig {
  /** Prefix of extra attributes kept without a column (e.g. "entraid_attributes"). */
  prefix: string;
  rules: CustomAttributeRule[];
  /** `keep` (default): undeclared extension attributes are kept under the prefix; `refuse`: 400 naming them. */
  undeclared?: "keep" | "refuse";
  /** What DELETE does: `mark` (default) marks the platform user removed; `erase` deletes it and all that finds it. */
  onDelete?: DeleteMode;
}

/** What a SCIM DELETE does to the platform user. */
export const DELETE_MODES = ["mark", "erase"] as const;
export type DeleteMode = (typeof DELETE_MODES)[number];

export const DEFAULT_SCIM_CONFIG: TenantScimConfig = { prefix: "scim", rules: [], undeclared: "keep", onDelete: "mark" };

/**
 * The platform user for a SCIM User representation: the platform's columns from the SCIM attributes
 * (userName, externalId, name.givenName/familyName, the work e-mail, mobile phone, work address), the deactivation
 * mark from `active`, custom extension attributes where the tenant's rules put them, and the representation itself.
 * Columns SCIM does not map (ssn, eppn …) keep what `previous` had.
 */
export function platformUserFrom(doc: Obj, id: string, tenantId: string, previous: PlatformUser | undefined, now: string, config: TenantScimConfig): PlatformUser {
  const prevDoc = previous ? readDocument(previous) : undefined;
  const name = pick(doc, "name") as Obj | undefined;
  const phone = Array.isArray(pick(doc, "phoneNumbers")) ? preferred(pick(doc, "phoneNumbers"), "mobile") : undefined;
  const address = preferred(pick(doc, "addresses"), "work");
  const extra: Record<string, string> = {};
  const columns: Partial<PlatformUser> = {};
  for (const [k, block] of Object.entries(doc)) {
    if (!/^urn:/i.test(k) || !isObject(block) || k.toLowerCase() === URN.enterprise.toLowerCase()) continue;
    for (const [attr, v] of Object.entries(block)) {
      if (v === null || typeof v === "object") continue;
      const rule = config.rules.find((r) => r.urn.toLowerCase() === k.toLowerCase() && r.attribute.toLowerCase() === attr.toLowerCase());
      if (!rule && config.undeclared === "refuse")
        throw badRequest(`Extension attribute ${k}:${attr} is not declared for this tenant. The operator declares it with "entra-sync scim attributes set" (or lets undeclared ones be kept).`, "invalidValue");
      if (rule?.column) columns[rule.column] = String(v);
      else extra[`${config.prefix}.${attr}`] = String(v);
    }
  }
  const active = pick(doc, "active");
  const u: PlatformUser = {
    ...(previous ?? {}),
    id,
    tenantId,
    userName: asString(pick(doc, "userName")),
    externalId: asString(pick(doc, "externalId")),
    firstName: asString(pick(name, "givenName")),
    lastName: asString(pick(name, "familyName")),
    email: asString(pick(preferred(pick(doc, "emails"), "work"), "value")),
    mobilePhone: asString(pick(phone, "value")) ?? previous?.mobilePhone,
    city: asString(pick(address, "locality")) ?? previous?.city,
    zipCode: asString(pick(address, "postalCode")) ?? previous?.zipCode,
    address: asString(pick(address, "streetAddress")) ?? previous?.address,
    ...columns,
    inactiveAt: active === false ? (previous?.inactiveAt ?? now) : undefined,
    uniqueUserName: true,
    uniqueExternalId: true,
    extraAttributes: Object.keys(extra).length ? JSON.stringify(extra) : undefined,
    scimDocument: JSON.stringify({ resource: doc, created: prevDoc?.created ?? now, lastModified: now } satisfies StoredDocument),
  };
  delete (u as Partial<StoredPlatformUser>).etag;
  return u;
}

/** Attribute paths that differ between two representations (one level into complex attributes), for the audit. */
export function changedAttributes(before: Obj, after: Obj): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const k of keys) {
    if (k === "meta" || k === "schemas") continue;
    const a = before[k];
    const b = after[k];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (isObject(a) || isObject(b)) {
      const sub = new Set([...Object.keys(isObject(a) ? a : {}), ...Object.keys(isObject(b) ? b : {})]);
      for (const s of sub) if (JSON.stringify(isObject(a) ? a[s] : undefined) !== JSON.stringify(isObject(b) ? b[s] : undefined)) out.push(`${k}.${s}`);
    } else out.push(k);
  }
  return out.sort();
}
