/** Request/response shapes used by every handler (also by $batch, which replays handlers in-process). */

export interface SimRequest {
  method: string;
  /** parsed with the client's Host header as origin */
  url: URL;
  /** lower-case header names */
  headers: Record<string, string>;
  bodyText: string;
  /** "https://<Host header>" — links are built on it */
  origin: string;
  inBatch?: boolean;
}

export interface SimResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON-serialised unless a string with an explicit content-type */
  body?: unknown;
  /** the tenant the request was for, when known (request log, fault matching) */
  tenantId?: string;
  /** drop the connection instead of answering */
  resetConnection?: boolean;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): SimResponse {
  return { status, headers: { "content-type": "application/json; charset=utf-8", ...headers }, body };
}

export function parseJsonBody(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

export function bearer(headers: Record<string, string>): string | undefined {
  const h = headers["authorization"];
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1];
}
