import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { SECURITY_HEADERS, type UiRequest, type UiResponse } from "../ui/status-page.js";

/*
 * The status page's HTTP side, shared by the ui*.ts triggers: turns an HttpRequest into the page's request and its
 * answer into an HttpResponseInit with the security headers. The routes are `anonymous` to the host: the page signs
 * its operators in itself (App Service Authentication, or the local sign-in) and refuses everyone else.
 */

const MAX_FORM = 16 * 1024;

export function uiRequest(request: HttpRequest): UiRequest {
  const url = new URL(request.url);
  return {
    pathAndQuery: url.pathname + url.search,
    query: url.searchParams,
    header: (name) => request.headers.get(name),
    secure: url.protocol === "https:" || request.headers.get("x-forwarded-proto") === "https",
  };
}

/** The urlencoded form of a POST (at most 16 KiB; anything else reads as empty, which no action accepts). */
export async function uiForm(request: HttpRequest): Promise<URLSearchParams> {
  const text = await request.text();
  if (text.length > MAX_FORM || !/^application\/x-www-form-urlencoded\b/i.test(request.headers.get("content-type") ?? "")) return new URLSearchParams();
  return new URLSearchParams(text);
}

export function toUiHttp(r: UiResponse): HttpResponseInit {
  const headers: Record<string, string> = { ...SECURITY_HEADERS, ...r.headers };
  if (r.html !== undefined) return { status: r.status, headers: { "Content-Type": "text/html; charset=utf-8", ...headers }, body: r.html };
  if (r.text !== undefined) return { status: r.status, headers: { "Content-Type": r.contentType ?? "text/plain; charset=utf-8", ...headers }, body: r.text };
  return { status: r.status, headers };
}
