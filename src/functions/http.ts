import type { HttpResponseInit } from "@azure/functions";
import type { ApiResponse } from "./api.js";

/** Shapes a use case's answer as an HTTP response (JSON unless the answer is text). */
export function toHttp(r: ApiResponse): HttpResponseInit {
  if (r.text !== undefined) return { status: r.status, body: r.text, headers: { ...r.headers } };
  return { status: r.status, headers: { "Content-Type": "application/json; charset=utf-8", ...r.headers }, ...(r.body === undefined ? {} : { jsonBody: r.body }) };
}
