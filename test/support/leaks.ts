/**
 * An independent leak detector for tests: it decodes text the ways an upstream service may have encoded a secret
 * (percent/form encoding, JSON escapes, base64 and base64url at any alignment, line breaks anywhere) and reports
 * which secrets can be read back. It shares no code with src/util/redact.ts on purpose.
 */

function percentDecode(s: string): string {
  return s.replace(/\+/g, " ").replace(/(?:%[0-9a-fA-F]{2})+/g, (m) => {
    try {
      return decodeURIComponent(m);
    } catch {
      return m;
    }
  });
}

function jsonUnescape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\\(["\\/])/g, "$1");
}

function base64Views(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/[A-Za-z0-9+/_-]{8,}/g)) {
    const run = m[0].replace(/-/g, "+").replace(/_/g, "/");
    for (let skip = 0; skip < 4; skip++) out.push(Buffer.from(run.slice(skip), "base64").toString("latin1"));
  }
  return out;
}

/** Every decoded view of `text`, to a depth of three decodings. */
export function views(text: string): string[] {
  const seen = new Set<string>();
  let frontier = [text, text.replace(/\r\n|\r|\n|\\r\\n|\\n|\\r/g, "").replace(/(?<=[A-Za-z0-9+/=%~._-])[ \t]+(?=[A-Za-z0-9+/=%~._-])/g, "")];
  for (let depth = 0; depth < 3 && frontier.length; depth++) {
    const next: string[] = [];
    for (const v of frontier) {
      if (seen.has(v)) continue;
      seen.add(v);
      next.push(percentDecode(v), jsonUnescape(v), percentDecode(jsonUnescape(v)), ...base64Views(v));
    }
    frontier = next;
  }
  return [...seen, ...frontier];
}

/** The secrets that can be read back from `text` in any encoding. */
export function leaksIn(text: string, secrets: string[]): string[] {
  const vs = views(text);
  return secrets.filter((s) => vs.some((v) => v.includes(s)));
}

/** The forms an upstream service may echo a secret in (what the simulator's echo faults produce). */
export function echoForms(secret: string): Record<string, string> {
  const form = new URLSearchParams({ client_secret: secret }).toString();
  const b64 = Buffer.from(`client_id=x&${form}&scope=y`).toString("base64");
  return {
    plain: `client_secret=${secret}`,
    form,
    lowerHex: form.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    base64: b64,
    base64url: Buffer.from(`x:${secret}`).toString("base64url"),
    base64Mime: (b64 + b64).replace(/.{1,76}/g, "$&\r\n"),
    json: JSON.stringify({ received: secret }).replace(/~/g, "\\u007e"),
    split: `the secret ${secret.slice(0, 17)}\n  ${secret.slice(17)} was refused`,
  };
}
