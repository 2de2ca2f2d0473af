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
  known = undefined;
}

/** Masks known secrets in every encoding and anything that looks like a credential. */
export function redact(text: string): string {
  if (text.length === 0) return text;
  return maskGeneric(maskKnown(text));
}

/** The longest message a report, an error or an answer keeps. */
export const MAX_MESSAGE_LENGTH = 2_000;

/** `redact`, then cut to `max` characters with a marker saying how much was cut. */
export function boundText(text: string, max = MAX_MESSAGE_LENGTH): string {
  const clean = redact(text);
  if (clean.length <= max) return clean;
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

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/**
 * A pattern matching a secret whose characters may each be written as is, percent-encoded (either case, also
 * encoded twice), as a JSON `\uXXXX` escape, `\/` for `/`, or `+` for a space (form encoding).
 */
function charPattern(s: string): string {
  return [...s]
    .map((c) => {
      const alts = [escapeRe(c)];
      const bytes = [...Buffer.from(c, "utf8")].map((b) => b.toString(16).padStart(2, "0"));
      alts.push(bytes.map((h) => `%(?:25)?${h.replace(/[a-f]/g, (x) => `[${x}${x.toUpperCase()}]`)}`).join(""));
      const code = c.codePointAt(0)!;
      if (code < 0x10000) alts.push(`\\\\u${code.toString(16).padStart(4, "0").replace(/[a-f]/g, (x) => `[${x}${x.toUpperCase()}]`)}`);
      if (c === "/") alts.push("\\\\/");
      if (c === " ") alts.push("\\+");
      return `(?:${alts.join("|")})`;
    })
    .join("");
}

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

let known: RegExp | undefined;

/** Line breaks (and the indentation after them) that may split a secret: real ones and JSON-escaped ones. */
const BREAK = /(?:\r\n|\r|\n|\\r\\n|\\n|\\r)[ \t]*/g;

function maskKnown(text: string): string {
  if (secrets.size === 0) return text;
  if (!known) {
    const all = [...secrets].sort((a, b) => b.length - a.length);
    known = new RegExp([...all.map(charPattern), ...all.flatMap(base64Forms).map(escapeRe)].join("|"), "g");
  }
  // Match on the text without line breaks, keeping where each kept character came from.
  const map: number[] = [];
  let flat = "";
  let last = 0;
  for (const m of text.matchAll(BREAK)) {
    for (let i = last; i < m.index; i++) map.push(i);
    flat += text.slice(last, m.index);
    last = m.index + m[0].length;
  }
  for (let i = last; i < text.length; i++) map.push(i);
  flat += text.slice(last);
  const ranges: Array<[number, number]> = [];
  for (const m of flat.matchAll(known)) if (m[0].length) ranges.push([map[m.index]!, map[m.index + m[0].length - 1]! + 1]);
  return ranges.length ? replaceRanges(text, ranges) : text;
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
const GENERIC: Array<[RegExp, string]> = [
  // key=value (form bodies, query strings, connection strings), also percent-encoded or JSON-escaped around it
  [new RegExp(`\\b(${KEYS})((?:\\\\?")?\\s*(?:=|%3D|:)\\s*(?:\\\\?")?)(?!\\[redacted\\])(?:\\\\(?!")|[^\\s&;,"'<>\\\\])+`, "gi"), `$1$2${MASK}`],
  // Authorization headers and bearer tokens wherever they appear
  [/\b(Bearer|Basic|SharedKey|SharedAccessSignature)(\s+|%20|\+)(?!\[redacted\])[A-Za-z0-9\-._~+/:=%]{8,}/gi, `$1$2${MASK}`],
  // JSON Web Tokens (also without a signature)
  [/\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.?[A-Za-z0-9_-]*/g, MASK],
];

/** Base64 runs long enough to hide `client_secret=…`; they are decoded and masked whole if they hide a credential. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;
const CREDENTIAL_HINT = new RegExp(`\\b(${KEYS})\\s*(=|%3D|"?\\s*:)|\\b(Bearer|Basic)\\s+\\S{8,}|eyJ[A-Za-z0-9_-]{6,}\\.`, "i");

function maskGeneric(text: string): string {
  let out = text;
  for (const [re, by] of GENERIC) out = out.replace(re, by);
  const flat = out.replace(BREAK, "");
  if (flat.length !== out.length) {
    // A base64 block split over lines: look at it joined; if it hides a credential, mask the whole block.
    for (const m of flat.matchAll(BASE64_RUN)) if (hidesCredential(m[0])) out = maskBase64Block(out, m[0]);
  }
  return out.replace(BASE64_RUN, (run) => (hidesCredential(run) ? MASK : run));
}

function hidesCredential(run: string): boolean {
  const decoded = Buffer.from(run.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("latin1");
  return CREDENTIAL_HINT.test(decoded);
}

/** Replaces the (line-split) occurrence of `block` in `text` by one mask. */
function maskBase64Block(text: string, block: string): string {
  const pattern = [...block].map((c) => c.replace(/[+/=]/g, "\\$&")).join(`(?:${BREAK.source})?`);
  return text.replace(new RegExp(pattern), MASK);
}
