import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { toEntraSyncError } from "../errors.js";
import { validationAnswer } from "../notifications/receive.js";
import { getApp } from "./app.js";
import type { App } from "../composition.js";

/**
 * The two endpoints Microsoft Graph posts to. Anonymous at the Functions level (Graph sends no function key): the
 * subscription id and its clientState are the gate. A `validationToken` in the query is Graph's handshake and is echoed
 * as text/plain; anything else is a notification collection, answered 202 once its runs are queued, 400 when it is
 * not one, 503 when the runs could not be queued (Graph then retries). Nothing of the body is ever logged.
 */
export async function notificationAnswer(request: HttpRequest, context: InvocationContext, receive: (app: App, body: string) => Promise<{ accepted: number; ignored: number }>): Promise<HttpResponseInit> {
  const handshake = validationAnswer(new URL(request.url).searchParams.get("validationToken"));
  if (handshake) {
    context.log(`${context.functionName}: validation handshake → ${handshake.status}`);
    return { status: handshake.status, body: handshake.text, headers: handshake.headers };
  }
  try {
    const r = await receive(getApp(), await request.text());
    context.log(`${context.functionName}: ${r.accepted} accepted, ${r.ignored} ignored`);
    return { status: 202 };
  } catch (e) {
    const err = toEntraSyncError(e);
    context.warn(`${context.functionName}: ${err.code}: ${err.message}`);
    if (err.code === "INPUT_INVALID") return { status: 400, jsonBody: { error: { code: err.code, message: err.message } } };
    return { status: 503, headers: { "Retry-After": "10" } };
  }
}
