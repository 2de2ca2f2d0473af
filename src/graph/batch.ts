/**
 * Graph `$batch` with entra-sync's own retry rules. The SDK does not retry requests inside a batch, and it would
 * resend a whole batch blindly: here every inner 429 waits for its own Retry-After, 5xx and network errors are
 * retried with backoff after checking (when a write's effect may already be in place) whether they landed, and
 * every other answer is handed back to be classified. Every retry is counted in the run's GraphCounters.
 */
import { RetryHandlerOptions, type Client } from "@microsoft/microsoft-graph-client";
import { classifiedCause, classifyGraphError, graphErrorInfo, parseRetryAfter, type TenantRef } from "./errors.js";
import type { GraphCounters } from "./client.js";
import { sleep } from "../util/concurrency.js";
import type { BatchRetryOptions, GraphAnswer } from "./tenant-graph.js";
import type { WritePacer } from "./write-budget.js";

/** Graph's limit of requests per `$batch`. */
export const BATCH_SIZE = 20;

export interface BatchRequest {
  id: string;
  method: "GET" | "PATCH";
  /** Relative to the version, e.g. `/users/{id}`. */
  url: string;
  body?: Record<string, unknown>;
}

/** One final answer per request (our own type; see `GraphAnswer`). */
export type BatchAnswer = GraphAnswer;

export interface BatchOptions extends BatchRetryOptions {
  client: Client;
  tenant: TenantRef;
  counters: GraphCounters;
  /** Writes take one token per request (retries included) before they go. */
  budget?: WritePacer | undefined;
  /** For writes whose outcome is unknown: the ids whose effect is already in place (they are not resent). */
  verify?: ((ids: string[]) => Promise<Set<string>>) | undefined;
}

const noSdkRetry = new RetryHandlerOptions(0, 0);

/** The inner answer's Retry-After in ms (inner headers are a plain object, names in any case). */
function retryAfterMs(headers: unknown): number | undefined {
  if (!headers || typeof headers !== "object") return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) if (k.toLowerCase() === "retry-after") return parseRetryAfter(v);
  return undefined;
}

const backoff = (base: number, attempt: number) => Math.round(base * 2 ** Math.min(attempt - 1, 6) * (0.75 + Math.random() * 0.5));
const transient = (status: number) => status === 0 || status >= 500;

/**
 * Sends up to 20 requests as one `$batch` and retries what may be retried; resolves with one final answer per id.
 * Throws (classified) only when the batch as a whole is refused for a reason retrying cannot fix (auth, consent).
 */
export async function executeBatch(requests: readonly BatchRequest[], o: BatchOptions): Promise<Map<string, BatchAnswer>> {
  if (requests.length > BATCH_SIZE) throw new Error(`executeBatch: ${requests.length} requests > ${BATCH_SIZE}`);
  const answers = new Map<string, BatchAnswer>();
  const maxAttempts = o.maxAttempts ?? 5;
  const maxThrottle = o.maxThrottleRetries ?? 30;
  const base = o.backoffMs ?? 500;
  let pending = [...requests];
  let failures = 0;
  let throttles = 0;
  let first = true;
  while (pending.length > 0) {
    if (!first) o.counters.retried += pending.length;
    first = false;
    await o.budget?.take(pending.length);
    let responses: Array<{ id: string; status: number; headers?: Record<string, string>; body?: BatchAnswer["body"] }>;
    try {
      const wire = pending.map((r) => ({ id: r.id, method: r.method, url: r.url, ...(r.body ? { body: r.body, headers: { "Content-Type": "application/json" } } : {}) }));
      const res = (await o.client.api("/$batch").middlewareOptions([noSdkRetry]).post({ requests: wire })) as { responses?: typeof responses };
      responses = res.responses ?? [];
    } catch (e) {
      const known = classifiedCause(e);
      if (known) throw known; // already classified (an unknown tenant, a redirect to another host)
      const info = graphErrorInfo(e);
      if (info.status === 429 && ++throttles <= maxThrottle) {
        await sleep(info.retryAfter !== undefined ? info.retryAfter * 1000 : backoff(base, throttles));
        continue; // a throttled batch was not executed: resend as is
      }
      if ((info.status === undefined || transient(info.status)) && ++failures < maxAttempts && !/certificate|self.signed/i.test(info.message)) {
        // A 503 may say how long to wait (Retry-After): never retry sooner.
        await sleep(Math.max(backoff(base, failures), (info.retryAfter ?? 0) * 1000));
        pending = await dropVerified(pending, answers, o);
        continue;
      }
      throw classifyGraphError(e, o.tenant, `send a batch of ${pending.length} requests`, pending.some((r) => r.method === "PATCH") ? "User.ReadWrite.All" : "User.Read.All");
    }
    const byId = new Map(responses.map((r) => [String(r.id), r]));
    const again: BatchRequest[] = [];
    let wait = 0;
    let sawTransient = false;
    for (const req of pending) {
      const r = byId.get(req.id);
      const status = r?.status ?? 0;
      if (status === 429) {
        o.counters.throttled++;
        if (throttles < maxThrottle) {
          again.push(req);
          wait = Math.max(wait, retryAfterMs(r?.headers) ?? backoff(base, throttles + 1));
          continue;
        }
      } else if (transient(status) && failures + 1 < maxAttempts) {
        again.push(req);
        sawTransient = true;
        wait = Math.max(wait, retryAfterMs(r?.headers) ?? 0); // an inner 503 may carry its own Retry-After
        continue;
      }
      answers.set(req.id, { status, ...(r?.body ? { body: r.body } : {}) });
    }
    if (again.length === 0) break;
    if (again.some((r) => byId.get(r.id)?.status === 429)) throttles++;
    if (sawTransient) {
      failures++;
      wait = Math.max(wait, backoff(base, failures));
    }
    await sleep(wait);
    pending = sawTransient ? await dropVerified(again, answers, o) : again;
  }
  return answers;
}

/** Before a write whose answer was lost is sent again: ask whether it landed, and do not resend those that did. */
async function dropVerified(pending: BatchRequest[], answers: Map<string, BatchAnswer>, o: BatchOptions): Promise<BatchRequest[]> {
  const writes = pending.filter((r) => r.method !== "GET");
  if (!o.verify || writes.length === 0) return pending;
  const landed = await o.verify(writes.map((r) => r.id));
  for (const id of landed) answers.set(id, { status: 204, verified: true });
  return pending.filter((r) => !landed.has(r.id));
}
