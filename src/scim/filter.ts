import { badRequest } from "./errors.js";

/**
 * SCIM filters as Entra's provisioning service sends them (RFC 7644 §3.4.2.2, the part Entra uses): comparisons with
 * `eq`, joined by `and`. Attribute names and operators are case-insensitive; a value is a JSON string, or a bare word
 * (`externalId eq jyoung`, `externalId eq 12345`), which is always a string, never a number. Anything else is refused
 * with 400 `invalidFilter`, which says what is supported.
 */

/** An attribute path: `userName`, `name.givenName`, `emails[type eq "work"].value`, `urn:…:User:employeeNumber`. */
export interface AttrPath {
  /** The schema URN when the path is URN-qualified (an extension), else undefined (core). */
  urn: string | undefined;
  attr: string;
  filter: Comparison[] | undefined;
  sub: string | undefined;
}

export interface Comparison {
  path: AttrPath;
  value: string;
}

export const MAX_FILTER_LENGTH = 1024;
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** Parses `urn:…:attr.sub`, `attr[filter].sub`, `attr.sub`: also used for PATCH paths. */
export function parsePath(text: string, what: "filter" | "path" = "path"): AttrPath {
  const fail = (why: string) => badRequest(`${what === "filter" ? "Filter" : "PATCH path"} "${text.slice(0, 200)}": ${why}.`, what === "filter" ? "invalidFilter" : "invalidPath");
  let rest = text.trim();
  let urn: string | undefined;
  if (/^urn:/i.test(rest)) {
    // The schema URN ends at its last colon before the attribute (URNs hold dots, as in "2.0", and colons).
    const bracket = rest.indexOf("[");
    const head = bracket >= 0 ? rest.slice(0, bracket) : rest;
    const cut = head.lastIndexOf(":");
    urn = rest.slice(0, cut);
    rest = rest.slice(cut + 1);
    if (!rest) fail("the attribute name after the schema URN is missing");
  }
  const m = /^([A-Za-z$][\w$-]*)(?:\[(.*)\])?(?:\.([A-Za-z$][\w$-]*))?$/s.exec(rest);
  if (!m) throw fail("expected an attribute name, optionally with [filter] and .subAttribute");
  const [, attr, inner, sub] = m;
  for (const n of [attr, sub]) if (n && FORBIDDEN.has(n.toLowerCase())) throw fail(`"${n}" is not an attribute`);
  const filter = inner === undefined ? undefined : parseFilter(inner);
  return { urn, attr: attr!, filter, sub };
}

/** Parses a filter into the comparisons that must all hold. */
export function parseFilter(text: string): Comparison[] {
  if (text.length > MAX_FILTER_LENGTH) throw badRequest(`Filter is ${text.length} characters; at most ${MAX_FILTER_LENGTH} are accepted.`, "invalidFilter");
  const tokens = tokenize(text);
  const out: Comparison[] = [];
  let i = 0;
  const fail = (why: string) => badRequest(`Filter "${text.slice(0, 200)}": ${why}. Supported: attribute eq "value", joined with and.`, "invalidFilter");
  for (;;) {
    const attr = tokens[i++];
    const op = tokens[i++];
    const value = tokens[i++];
    if (!attr || attr.kind !== "word") throw fail("expected an attribute name");
    if (!op || op.kind !== "word") throw fail(`expected an operator after ${attr.text}`);
    if (op.text.toLowerCase() !== "eq") throw fail(`operator "${op.text}" is not supported`);
    if (!value) throw fail(`expected a value after ${attr.text} ${op.text}`);
    out.push({ path: parsePath(attr.text, "filter"), value: value.text });
    const next = tokens[i++];
    if (!next) return out;
    if (next.kind !== "word" || next.text.toLowerCase() !== "and") throw fail(`"${next.text}" is not supported (only and joins comparisons)`);
  }
}

interface Token {
  kind: "word" | "string";
  text: string;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      // A JSON string: its escapes (\" \\ \u…) are read as JSON reads them.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) throw badRequest(`Filter "${text.slice(0, 200)}": a quoted value is not closed.`, "invalidFilter");
      try {
        out.push({ kind: "string", text: JSON.parse(text.slice(i, j + 1)) as string });
      } catch {
        throw badRequest(`Filter "${text.slice(0, 200)}": the quoted value ${text.slice(i, j + 1).slice(0, 80)} is not a valid JSON string.`, "invalidFilter");
      }
      i = j + 1;
      continue;
    }
    if (c === "(" || c === ")") throw badRequest(`Filter "${text.slice(0, 200)}": parentheses are not supported; only comparisons joined with and.`, "invalidFilter");
    // A word: an attribute path (may hold a [value filter] with quoted strings and spaces), an operator, a bare value.
    let j = i;
    let depth = 0;
    while (j < text.length) {
      const d = text[j]!;
      if (d === "[") depth++;
      else if (d === "]") depth--;
      else if (d === '"' && depth > 0) {
        j++;
        while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      } else if (/\s/.test(d) && depth === 0) break;
      j++;
    }
    out.push({ kind: "word", text: text.slice(i, j) });
    i = j;
  }
  return out;
}

type Json = unknown;

const lc = (s: string) => s.toLowerCase();

/** The own property of `o` whose name equals `name` ignoring case (attribute names are case-insensitive). */
export function keyOf(o: Record<string, Json>, name: string): string | undefined {
  if (Object.hasOwn(o, name)) return name;
  const l = lc(name);
  return Object.keys(o).find((k) => lc(k) === l);
}

const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The container of a path's attribute: the resource itself, or its extension block (URN matched ignoring case). */
export function containerOf(resource: Record<string, Json>, urn: string | undefined): Record<string, Json> | undefined {
  if (!urn) return resource;
  const k = keyOf(resource, urn);
  const c = k === undefined ? undefined : resource[k];
  return isObject(c) ? c : undefined;
}

/** The primitive values at a path (multi-valued attributes flattened; complex values compared by their `value`). */
export function valuesAt(resource: Record<string, Json>, path: AttrPath): Json[] {
  const c = containerOf(resource, path.urn);
  if (!c) return [];
  const k = keyOf(c, path.attr);
  if (k === undefined) return [];
  let items: Json[] = Array.isArray(c[k]) ? (c[k] as Json[]) : [c[k]];
  if (path.filter) items = items.filter((it) => isObject(it) && matchesAll(it, path.filter!));
  const sub = path.sub ?? (items.some(isObject) ? "value" : undefined);
  if (!sub) return items;
  return items.flatMap((it) => {
    if (!isObject(it)) return [];
    const sk = keyOf(it, sub);
    return sk === undefined ? [] : [it[sk]];
  });
}

/**
 * Attributes compared exactly (RFC 7643 caseExact): `id`, `externalId`, and member/manager references (ids).
 * Everything else (userName, displayName, e-mail addresses …) compares ignoring case.
 */
function caseExact(path: AttrPath): boolean {
  const a = lc(path.attr);
  return a === "id" || a === "externalid" || ((a === "members" || a === "manager") && (path.sub === undefined || lc(path.sub) === "value"));
}

function equal(v: Json, want: string, exact: boolean): boolean {
  if (typeof v === "string") return exact ? v === want : lc(v) === lc(want);
  if (typeof v === "boolean") return String(v) === lc(want);
  if (typeof v === "number") return String(v) === want;
  return false;
}

/** Whether a resource satisfies every comparison. */
export function matchesAll(resource: Record<string, Json>, comparisons: readonly Comparison[]): boolean {
  return comparisons.every((c) => valuesAt(resource, c.path).some((v) => equal(v, c.value, caseExact(c.path))));
}
