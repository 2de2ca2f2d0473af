import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  RetryHandler,
  RetryHandlerOptions,
  TelemetryHandler,
  type Context,
  type Middleware,
} from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import type { TokenCredential } from "@azure/core-auth";
import { withTenantDiagnosis } from "./credential.js";
import { EntraSyncError } from "../errors.js";
import { parseRetryAfter, throughGraphClient, type TenantRef } from "./errors.js";
import { trusting } from "./tls.js";

/** Counters of one run's Graph traffic, for the run report. */
export interface GraphCounters {
  /** HTTP requests sent (each retry counts). */
  requests: number;
  /** 429 answers seen (outer and inside $batch). */
  throttled: number;
  /** Requests sent again after a 429/5xx/network error. */
  retried: number;
}

export const newGraphCounters = (): GraphCounters => ({ requests: 0, throttled: 0, retried: 0 });

/** Counts every HTTP attempt below the retry handler, so retries are seen one by one. */
class CountingHandler implements Middleware {
  private next: Middleware | undefined;
  constructor(private readonly counters: GraphCounters) {}
  async execute(context: Context): Promise<void> {
    this.counters.requests++;
    const headers = context.options?.headers as Record<string, string> | Headers | undefined;
    const attempt = headers instanceof Headers ? headers.get("Retry-Attempt") : headers?.["Retry-Attempt"];
    if (attempt) this.counters.retried++;
    await this.next!.execute(context);
    if (context.response?.status === 429) this.counters.throttled++;
  }
  setNext(next: Middleware): void {
    this.next = next;
  }
}

/**
 * Retries GETs that failed with 500/502 or a network error (the SDK's RetryHandler covers only 429/503/504), with
 * exponential backoff, never sooner than a `Retry-After` the answer carries. Only GETs: a write whose answer was
 * lost must be checked before it is sent again, which the writers do themselves.
 */
class TransientReadRetryHandler implements Middleware {
  private next: Middleware | undefined;
  constructor(
    private readonly counters: GraphCounters,
    private readonly attempts = 4,
  ) {}
  async execute(context: Context): Promise<void> {
    const method = (context.options?.method ?? (context.request instanceof Request ? context.request.method : "GET")).toUpperCase();
    for (let attempt = 1; ; attempt++) {
      let failed: unknown;
      try {
        await this.next!.execute(context);
        const status = context.response?.status;
        if (status !== 500 && status !== 502) return;
      } catch (e) {
        failed = e;
      }
      if (method !== "GET" || attempt >= this.attempts) {
        if (failed !== undefined) throw failed;
        return;
      }
      this.counters.retried++;
      const backoff = Math.min(8_000, 250 * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
      await new Promise((r) => setTimeout(r, Math.max(backoff, (failed === undefined ? parseRetryAfter(context.response?.headers.get("Retry-After")) : undefined) ?? 0)));
    }
  }
  setNext(next: Middleware): void {
    this.next = next;
  }
}

/** The SDK's RetryHandlerOptions.MAX_DELAY (private there): the longest wait it honours. */
const SDK_MAX_DELAY_MS = 180_000;

/**
 * The SDK caps a Retry-After at its maximum delay (180 s) and would retry sooner than asked: an answer that asks
 * for longer is not retried here but handed back (classified with its Retry-After, the next run tries again).
 */
const waitsNoLongerThanTheSdkWould = (_delay: number, _attempt: number, _request: RequestInfo, _options: RequestInit | undefined, response: Response): boolean =>
  (parseRetryAfter(response.headers.get("Retry-After")) ?? 0) <= SDK_MAX_DELAY_MS;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Follows HTTP redirects itself instead of letting fetch follow them anywhere: within the Graph origin it follows
 * (up to 5 hops, the token kept), to any other origin it refuses with GRAPH_FOREIGN_LINK before asking it, so an
 * answer from a foreign host is never taken for Graph data.
 */
class SameOriginRedirectHandler implements Middleware {
  private next: Middleware | undefined;
  constructor(
    private readonly origin: string,
    private readonly maxHops = 5,
  ) {}
  async execute(context: Context): Promise<void> {
    context.options = { ...context.options, redirect: "manual" };
    for (let hop = 0; ; hop++) {
      await this.next!.execute(context);
      const res = context.response;
      const location = res && REDIRECTS.has(res.status) ? res.headers.get("Location") : null;
      if (!res || location === null) return;
      const from = context.request instanceof Request ? context.request.url : String(context.request);
      const target = new URL(location, from);
      if (target.origin !== this.origin)
        throw throughGraphClient(new EntraSyncError("GRAPH_FOREIGN_LINK", `Graph answered HTTP ${res.status} with a redirect to ${target.origin}, not the configured Graph host ${this.origin}: refused, nothing was asked of that host. Check GRAPH_BASE_URL and the tenant's cloud.`, { retryable: false }));
      if (hop >= this.maxHops) throw throughGraphClient(new EntraSyncError("GRAPH_REQUEST_FAILED", `Graph redirected more than ${this.maxHops} times (last to ${target.pathname}).`, { retryable: false }));
      const method = (context.options.method ?? "GET").toUpperCase();
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        const { body: _body, ...rest } = context.options;
        context.options = { ...rest, method: "GET" };
      }
      context.request = target.href;
    }
  }
  setNext(next: Middleware): void {
    this.next = next;
  }
}

export interface GraphClientOptions {
  /** Origin of Graph, e.g. https://graph.microsoft.com (no version, no trailing slash). */
  graphBaseUrl: string;
  credential: TokenCredential;
  counters: GraphCounters;
  /** Extra CA certificate (PEM) to trust: the local simulator's. */
  ca?: string | undefined;
  /** Retries of 429/503/504 by the SDK (Retry-After honoured). */
  maxRetries?: number;
  /** The tenant's sign-in host and ids: a failed endpoint discovery is then diagnosed (unknown tenant or unreachable). */
  authority?: { authorityHost: string; tenant: TenantRef } | undefined;
}


/** The scope of a Graph host: `${origin}/.default`. */
export const graphScope = (graphBaseUrl: string): string => `${new URL(graphBaseUrl).origin}/.default`;

/**
 * Builds a Microsoft Graph client for one tenant with the SDK's own auth and retry middleware, a counter of every
 * attempt, and the token sent only to the configured Graph host (`customHosts` when it is not a Microsoft host).
 */
export function createGraphClient(o: GraphClientOptions): Client {
  const url = new URL(o.graphBaseUrl);
  const credential = o.authority ? withTenantDiagnosis(o.credential, { ...o.authority, ca: o.ca }) : o.credential;
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [graphScope(o.graphBaseUrl)] });
  const middleware: Middleware[] = [
    new AuthenticationHandler(authProvider),
    new RetryHandler(new RetryHandlerOptions(2, o.maxRetries ?? 6, waitsNoLongerThanTheSdkWould)),
    new TelemetryHandler(),
    new SameOriginRedirectHandler(url.origin),
    new TransientReadRetryHandler(o.counters),
    new CountingHandler(o.counters),
    new HTTPMessageHandler(),
  ];
  return Client.initWithMiddleware({
    baseUrl: url.origin,
    defaultVersion: "v1.0",
    middleware,
    customHosts: new Set([url.hostname]),
    fetchOptions: o.ca ? trusting(o.ca) : undefined,
  });
}
