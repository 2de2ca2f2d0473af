import { badRequest } from "./errors.js";
import { containerOf, keyOf, matchesAll, parsePath, type AttrPath } from "./filter.js";

/**
 * Applies a SCIM PatchOp (RFC 7644 §3.5.2) in either of Entra's dialects to a resource (plain JSON):
 * - Entra's default: capitalised ops (`Replace`), `"active": "False"` as a string, one operation per attribute,
 *   member removal as `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}`;
 * - `?aadOptscim062020` (and the SCIM Validator): lowercase ops, booleans, path-less `replace` whose value has dotted
 *   (`"name.givenName"`) and URN-qualified keys, member removal by `members[value eq "<id>"]`.
 * Ops are matched ignoring case. `"True"`/`"False"` become booleans on boolean attributes. A remove of `members` with
 * a value removes those members only, never all of them. An empty or null value on add/replace removes the
 * attribute (Entra sends no nulls; the Validator's null test does). `__proto__`, `constructor` and `prototype` are
 * refused as names anywhere.
 */

type Json = unknown;
type Obj = Record<string, Json>;

export interface PatchOperation {
  op: string;
  path?: string | undefined;
  value?: Json;
}

export const PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const MAX_OPERATIONS = 1000;

/** Attributes whose values are booleans (Entra may send them as "True"/"False"). */
const BOOLEAN_ATTRS = new Set(["active", "primary"]);
/** Single-valued complex attributes that Entra may send as a bare string or a one-item array (enterprise manager). */
const REFERENCE_ATTRS = new Set(["manager"]);
const isObject = (v: Json): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** Throws 400 if any key anywhere in `v` is `__proto__`, `constructor` or `prototype`. */
export function refuseDangerousKeys(v: Json, where = "body", depth = 0): void {
  if (depth > 32) throw badRequest(`The ${where} is nested more than 32 levels deep.`, "invalidSyntax");
  if (Array.isArray(v)) for (const x of v) refuseDangerousKeys(x, where, depth + 1);
  else if (isObject(v))
    for (const [k, x] of Object.entries(v)) {
      if (FORBIDDEN.has(k.toLowerCase())) throw badRequest(`The ${where} has a key "${k}", which is not an attribute.`, "invalidValue");
      refuseDangerousKeys(x, where, depth + 1);
    }
}

/** The operations of a PatchOp body, checked for shape. */
export function operationsOf(body: Json): PatchOperation[] {
  if (!isObject(body)) throw badRequest("A PATCH body must be a JSON object with schemas and Operations.");
  const k = keyOf(body, "Operations");
  const ops = k === undefined ? undefined : body[k];
  if (!Array.isArray(ops)) throw badRequest('A PATCH body needs "Operations": an array of {op, path, value}.');
  if (ops.length > MAX_OPERATIONS) throw badRequest(`A PATCH body may hold at most ${MAX_OPERATIONS} operations; it has ${ops.length}.`, "tooMany");
  return ops.map((o, i) => {
    if (!isObject(o)) throw badRequest(`Operation ${i + 1} is not an object.`);
    const opKey = keyOf(o, "op");
    const op = opKey === undefined ? undefined : o[opKey];
    if (typeof op !== "string" || !["add", "replace", "remove"].includes(op.toLowerCase())) throw badRequest(`Operation ${i + 1}: "op" must be add, replace or remove (any case); got ${JSON.stringify(op)?.slice(0, 40)}.`);
    const pathKey = keyOf(o, "path");
    const path = pathKey === undefined ? undefined : o[pathKey];
    if (path !== undefined && path !== null && typeof path !== "string") throw badRequest(`Operation ${i + 1}: "path" must be a string.`, "invalidPath");
    const valueKey = keyOf(o, "value");
    return { op: op.toLowerCase(), path: typeof path === "string" && path.trim() ? path : undefined, value: valueKey === undefined ? undefined : o[valueKey] };
  });
}

/** Applies the operations to a copy of `resource` and returns it; the original is not changed. */
export function applyPatch(resource: Obj, operations: readonly PatchOperation[]): Obj {
  const out = structuredClone(resource);
  for (const op of operations) {
    if (!op.path) {
      if (op.op === "remove") throw badRequest("A remove operation needs a path.", "noTarget");
      if (!isObject(op.value)) throw badRequest(`A ${op.op} operation without a path needs an object value whose keys are attribute paths.`, "invalidValue");
      for (const [key, value] of Object.entries(op.value)) {
        if (/^urn:.*:(user|group)$/i.test(key) && isObject(value)) {
          // A whole extension block: each of its attributes, URN-qualified.
          for (const [k, v] of Object.entries(value)) applyOne(out, op.op, parsePath(`${key}:${k}`), v);
        } else applyOne(out, op.op, parsePath(key), value);
      }
      continue;
    }
    applyOne(out, op.op, parsePath(op.path), op.value);
  }
  return out;
}

const empty = (v: Json) => v === null || v === "";

function coerce(name: string, v: Json): Json {
  if (BOOLEAN_ATTRS.has(name.toLowerCase()) && typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  if (isObject(v)) {
    const o: Obj = {};
    for (const [k, x] of Object.entries(v)) o[k] = coerce(k, x);
    return o;
  }
  if (Array.isArray(v)) return v.map((x) => coerce("", x));
  return v;
}

/** Entra's manager in its three shapes (`"id"`, `[{"value":"id"}]`, `{"value":"id"}`) as `{"value":"id"}`. */
function asReference(v: Json): Json {
  if (typeof v === "string") return v ? { value: v } : null;
  if (Array.isArray(v)) return v.length ? asReference(v[0]) : null;
  if (isObject(v)) {
    const k = keyOf(v, "value");
    return k === undefined || v[k] === "" || v[k] === null ? null : v;
  }
  return v;
}

function applyOne(resource: Obj, op: string, path: AttrPath, rawValue: Json): void {
  const container = containerOf(resource, path.urn) ?? (op === "remove" ? undefined : ((resource[path.urn!] = {}) as Obj));
  if (!container) return;
  const key = keyOf(container, path.attr) ?? path.attr;
  let value = coerce(path.sub ?? path.attr, rawValue);
  if (REFERENCE_ATTRS.has(path.attr.toLowerCase()) && path.urn && !path.sub) value = asReference(value);

  if (op === "remove" || ((op === "replace" || op === "add") && empty(value) && !path.filter)) {
    remove(container, key, path, op === "remove" ? value : undefined);
    return;
  }

  if (path.filter) {
    // attr[filter] or attr[filter].sub: the matching items of a multi-valued attribute; one is made if none matches.
    const list = Array.isArray(container[key]) ? (container[key] as Json[]) : [];
    let matched = list.filter((it): it is Obj => isObject(it) && matchesAll(it, path.filter!));
    if (!matched.length) {
      const made: Obj = {};
      for (const c of path.filter) if (!c.path.sub && !c.path.filter) made[c.path.attr] = c.value;
      list.push(made);
      matched = [made];
    }
    for (const it of matched) {
      if (path.sub) {
        if (empty(value)) delete it[keyOf(it, path.sub) ?? path.sub];
        else it[keyOf(it, path.sub) ?? path.sub] = value;
      } else if (isObject(value)) Object.assign(it, value);
      else throw badRequest(`The value for ${path.attr}[…] must be an object.`, "invalidValue");
    }
    container[key] = list;
    return;
  }

  if (path.sub) {
    const parent = isObject(container[key]) ? (container[key] as Obj) : {};
    parent[keyOf(parent, path.sub) ?? path.sub] = value;
    container[key] = parent;
    return;
  }

  const current = container[key];
  if (op === "add" && Array.isArray(current)) {
    // add to a multi-valued attribute appends; an item already present (same value) is not added twice.
    const items = Array.isArray(value) ? value : [value];
    for (const it of items) if (!current.some((c) => sameItem(c, it))) current.push(it);
    return;
  }
  if (op === "add" && isObject(current) && isObject(value)) {
    Object.assign(current, value);
    return;
  }
  container[key] = value;
}

function itemValue(v: Json): Json {
  if (!isObject(v)) return v;
  const k = keyOf(v, "value");
  return k === undefined ? undefined : v[k];
}
const sameItem = (a: Json, b: Json) => itemValue(a) !== undefined && itemValue(a) === itemValue(b);

function remove(container: Obj, key: string, path: AttrPath, value: Json): void {
  const current = container[key];
  if (current === undefined) return;
  if (path.filter && Array.isArray(current)) {
    const keep = current.filter((it) => !(isObject(it) && matchesAll(it, path.filter!)));
    if (path.sub) {
      for (const it of current) if (isObject(it) && matchesAll(it, path.filter)) delete it[keyOf(it, path.sub) ?? path.sub];
      return;
    }
    if (keep.length) container[key] = keep;
    else delete container[key];
    return;
  }
  if (path.sub) {
    if (isObject(current)) delete current[keyOf(current, path.sub) ?? path.sub];
    return;
  }
  if (Array.isArray(current) && value !== undefined && value !== null) {
    // Entra's default dialect: remove these items (by value), never the whole attribute.
    const gone: Json[] = (Array.isArray(value) ? (value as Json[]) : [value]).map(itemValue).filter((v) => v !== undefined);
    const keep = (current as Json[]).filter((it) => !gone.includes(itemValue(it)));
    if (keep.length) container[key] = keep;
    else delete container[key];
    return;
  }
  delete container[key];
}
