/**
 * The one place that keeps secrets out of text that leaves the process: log lines, error messages, run reports,
 * API answers and mails all pass through `redact` (or `boundText`, which also caps the length).
 *
 * Two kinds of masking:
 * - Known secrets (every tenant's client secret as read from Key Vault, the platform's client secret, the SMTP
 *   password), registered once with `registerSecret`, are found in every form an upstream service may echo them:
 *   as is, percent-encoded (encodeURIComponent or form-encoded, `~` as `%7E`, space as `+`, upper or lower hex),
 *   JSON-escaped, inside base64 or base64url at any byte offset, and split over lines (a wrapped line, a 76-column
 *   base64 block, an escaped `\n`).
 * - Anything that looks like a credential, known or not: `client_secret=…`, `client_assertion=…`, `password=…`,
 *   `Authorization: Bearer …`, JSON Web Tokens, `sig=` and `SharedAccessSignature=`/`AccountKey=` in connection
 *   strings, also inside a base64 blob.
 */

const MASK = "[redacted]";
/** Shorter values are too likely to occur by chance to be masked everywhere. */
const MIN_SECRET_LENGTH = 6;

const secrets = new Set<string>();

/** Registers a secret value process-wide: from now on `redact` masks it in every encoding. */
export function registerSecret(value: string): void {
  if (value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  if (known) indexForms(known, value); // added to, never rebuilt: a process may read thousands of tenants' secrets
}

/** Masks known secrets in every encoding and anything that looks like a credential. */
export function redact(text: string): string {
  if (text.length < MIN_SECRET_LENGTH) return text;
  return mask(text);
}

/** The longest message a report, an error or an answer keeps. */
export const MAX_MESSAGE_LENGTH = 2_000;

const CUT = /^… \(\d+ characters cut\)$/;

/** `redact`, then cut to `max` characters with a marker saying how much was cut. */
export function boundText(text: string, max = MAX_MESSAGE_LENGTH): string {
  const clean = redact(text);
  if (clean.length <= max) return clean;
  // Already cut (a report bounded twice): keep it as it is.
  const cut = CUT.exec(clean.slice(max));
  if (cut && cut.index + max + cut[0].length === clean.length) return clean;
  return `${clean.slice(0, max)}… (${clean.length - max} characters cut)`;
}

/** `redact` applied to every string of a JSON-like value (keys included); returns a copy. */
export function redactDeep<T>(value: T): T {
  return walk(value, 0) as T;
}

function walk(v: unknown, depth: number): unknown {
  if (typeof v === "string") return redact(v);
  if (depth > 20 || v === null || typeof v !== "object") return v;
  if (v instanceof Date) return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[redact(k)] = walk(x, depth + 1);
  return out;
}

// ---- known secrets ----------------------------------------------------------------------------------------------

/**
 * The base64 forms of a secret inside a longer encoded text: the secret (as is and in its URL forms) starts at any
 * byte offset, so only the characters that depend on the secret's bytes alone are fixed, about 4/3 of its length.
 */
function base64Forms(s: string): string[] {
  const forms = new Set<string>();
  const uri = encodeURIComponent(s);
  const form = new URLSearchParams({ v: s }).toString().slice(2);
  const strict = [...s].map((c) => (/[A-Za-z0-9\-._~]/.test(c) ? c : encodeURIComponent(c).replace(/[!'()*]/g, (x) => `%${x.charCodeAt(0).toString(16).toUpperCase()}`))).join("");
  for (const raw of new Set([s, uri, strict, form, strict.replace(/~/g, "%7E")])) {
    const bytes = Buffer.from(raw, "utf8");
    for (let k = 0; k < 3; k++) {
      const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64").replace(/=+$/, "");
      const core = b64.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
      if (core.length >= 8) {
        forms.add(core);
        forms.add(core.replace(/\+/g, "-").replace(/\//g, "_"));
      }
    }
  }
  return [...forms];
}

/**
 * Every form of every known secret, by its first six characters: one map lookup per position of a text where those
 * six characters' hash is a form's (a number looked up, no string made: most positions of most texts stop there).
 */
let known: Map<string, Set<string>> | undefined;
const knownKeyHashes = new Set<number>();
const KEY_CHARS = MIN_SECRET_LENGTH;

/** A hash of the KEY_CHARS characters of `text` from `at`. */
function keyHash(text: string, at: number): number {
  let h = 0;
  for (let i = at; i < at + KEY_CHARS; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h;
}

function knownIndex(): Map<string, Set<string>> {
  const index = new Map<string, Set<string>>();
  for (const s of secrets) indexForms(index, s);
  return index;
}

function indexForms(index: Map<string, Set<string>>, secret: string): void {
  for (const form of [secret, ...base64Forms(secret)]) {
    const key = form.slice(0, KEY_CHARS);
    knownKeyHashes.add(keyHash(key, 0));
    const set = index.get(key);
    if (set) set.add(form);
    else index.set(key, new Set([form]));
  }
}

/**
 * What may stand between or for the characters of a secret: line breaks with the indentation after them (real and
 * JSON-escaped), JSON `\uXXXX` and `\/` escapes, percent-encoded ASCII (also encoded twice).
 */
const DECODE = /(?:\r\n|\r|\n|\\r\\n|\\n|\\r)[ \t]*|\\u([0-9a-fA-F]{4})|\\\/|%(?:25)?([0-7][0-9a-fA-F])/g;

/** The text decoded as DECODE says, with the range of the original that each decoded character came from. */
function decodedView(text: string): { view: string; from: number[]; to: number[] } {
  let view = "";
  const from: number[] = [];
  const to: number[] = [];
  let last = 0;
  const keep = (end: number) => {
    for (let i = last; i < end; i++) {
      from.push(i);
      to.push(i + 1);
    }
    view += text.slice(last, end);
  };
  for (const m of text.matchAll(DECODE)) {
    keep(m.index);
    const end = m.index + m[0].length;
    const ch = m[1] ? String.fromCharCode(parseInt(m[1], 16)) : m[2] ? String.fromCharCode(parseInt(m[2], 16)) : m[0] === "\\/" ? "/" : "";
    if (ch) {
      view += ch;
      from.push(m.index);
      to.push(end);
    }
    last = end;
  }
  keep(text.length);
  return { view, from, to };
}

function replaceRanges(text: string, ranges: Array<[number, number]>): string {
  ranges.sort((a, b) => a[0] - b[0]);
  let out = "";
  let pos = 0;
  for (const [from, to] of ranges) {
    if (to <= pos) continue;
    out += text.slice(pos, Math.max(pos, from)) + (from >= pos ? MASK : "");
    pos = to;
  }
  return out + text.slice(pos);
}

// ---- anything that looks like a credential ----------------------------------------------------------------------

const KEYS = "client_secret|client_assertion|password|passwd|pwd|access_token|refresh_token|id_token|AccountKey|SharedAccessSignature|SharedAccessKey|sig";
/** Patterns on the decoded text, each with the group to mask (0: the whole match). */
const GENERIC: Array<[RegExp, number]> = [
  // key=value (form bodies, query strings, connection strings) and "key": "value" (JSON, also escaped JSON)
  [new RegExp(`\\b(?:${KEYS})(?:\\\\?")?\\s*(?:=|:)\\s*(?:\\\\?")?((?:\\\\(?!")|[^\\s&;,"'<>\\\\])+)`, "dgi"), 1],
  // Authorization headers and bearer tokens wherever they appear
  [/\b(?:Bearer|Basic|SharedKey|SharedAccessSignature)(?:\s+|\+)([A-Za-z0-9\-._~+/:=]{8,})/dgi, 1],
  // JSON Web Tokens (also without a signature)
  [/\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.?[A-Za-z0-9_-]*/dg, 0],
];

/** Base64 runs long enough to hide `client_secret=…`; they are decoded and masked whole if they hide a credential. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/dg;
const CREDENTIAL_HINT = new RegExp(`\\b(${KEYS})\\s*(=|%3D|"?\\s*:)|\\b(Bearer|Basic)\\s+\\S{8,}|eyJ[A-Za-z0-9_-]{6,}\\.`, "i");

function hidesCredential(run: string): boolean {
  const decoded = Buffer.from(run.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("latin1");
  return CREDENTIAL_HINT.test(decoded);
}

/** Whether a text may hold an encoded character at all (most do not: ids, dates, plain messages). */
const ENCODED = /[\\%\r\n]/;
/** Whether a (decoded) text may hold something shaped like a credential; the full patterns run only then. */
const GENERIC_HINT = new RegExp(`(?:${KEYS})(?:\\\\?")?\\s*[=:]|Bearer|Basic|SharedKey|SharedAccessSignature|eyJ`, "i");

function mask(text: string): string {
  const plain = !ENCODED.test(text);
  const { view, from, to } = plain ? { view: text, from: undefined, to: undefined } : decodedView(text);
  const ranges: Array<[number, number]> = [];
  const add = (start: number, end: number) => {
    if (end > start) ranges.push(from && to ? [from[start]!, to[end - 1]!] : [start, end]);
  };
  if (secrets.size > 0) {
    // The decoded view holds a percent-, form- or JSON-encoded or line-split secret as is; base64 forms are listed.
    known ??= knownIndex();
    for (let i = 0; i + KEY_CHARS <= view.length; i++) {
      if (!knownKeyHashes.has(keyHash(view, i))) continue;
      const forms = known.get(view.slice(i, i + KEY_CHARS));
      if (!forms) continue;
      let longest = 0;
      for (const f of forms) if (f.length > longest && view.startsWith(f, i)) longest = f.length;
      if (longest) add(i, i + longest);
    }
  }
  for (const [re, group] of GENERIC_HINT.test(view) ? GENERIC : []) {
    for (const m of view.matchAll(re)) {
      const at = m.indices?.[group];
      if (at && !view.slice(at[0], at[1]).startsWith(MASK)) add(at[0], at[1]);
    }
  }
  for (const m of view.matchAll(BASE64_RUN)) if (hidesCredential(m[0])) add(m.index, m.index + m[0].length);
  return ranges.length ? replaceRanges(text, ranges) : text;
}
