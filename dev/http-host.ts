/**
 * A small stand-in for the Functions host's HTTP front end, for the local stack (Core Tools cannot be installed on
 * the build machines). It serves every HTTP-triggered function of `src/functions/` through the function's own
 * registration — route template, methods, auth level — captured the way the host's Node worker captures it: by
 * providing the module `@azure/functions-core`, on which `@azure/functions` calls `registerFunction`. Requests and
 * answers are `@azure/functions`' own HttpRequest and HttpResponse.
 *
 * As the host: routes live under `/api/`; an unknown route, and a known route asked with a method it was not
 * registered for, get 404 with no body; `authLevel: "function"` (and `"admin"`) needs the key in the
 * `x-functions-key` header or the `code` query parameter, else 401 with no body; `"anonymous"` needs none; a handler
 * that throws gives 500 with no body.
 */
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { readdirSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Module from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import azureFunctions, { type HttpRequest as Req, type HttpResponseInit, type InvocationContext as Ctx } from "@azure/functions";

const { HttpRequest, HttpResponse, InvocationContext } = azureFunctions;

/** A function as `@azure/functions` registers it with the host: its metadata and its handler. */
export interface FunctionRegistration {
  name: string;
  bindings: Record<string, { type: string; direction: string; [k: string]: unknown }>;
  handler: (trigger: unknown, context: Ctx) => unknown;
}

let registrations: Promise<FunctionRegistration[]> | undefined;

/**
 * Imports every function module of `src/functions/` once per process with a stand-in `@azure/functions-core` in
 * place, and returns what registered. Must run before anything else in the process calls `app.*` (the library looks
 * the core module up once and caches the answer).
 */
export function loadFunctionRegistrations(): Promise<FunctionRegistration[]> {
  registrations ??= (async () => {
    const captured: FunctionRegistration[] = [];
    const core = {
      setProgrammingModel: () => undefined,
      registerHook: () => ({ dispose: () => undefined }),
      log: () => undefined,
      registerFunction(metadata: Omit<FunctionRegistration, "handler">, handler: FunctionRegistration["handler"]) {
        captured.push({ name: metadata.name, bindings: metadata.bindings, handler });
        return { dispose: () => undefined };
      },
    };
    const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = M._load;
    M._load = function (request: string, ...rest: unknown[]) {
      return request === "@azure/functions-core" ? core : load.call(this, request, ...rest);
    };
    const dir = path.resolve(import.meta.dirname, "../src/functions");
    for (const f of readdirSync(dir).filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts")).sort()) await import(pathToFileURL(path.join(dir, f)).href);
    return captured;
  })();
  return registrations;
}

interface Route {
  name: string;
  methods: readonly string[] | undefined;
  authLevel: string;
  segments: readonly string[];
  handler: (request: Req, context: Ctx) => Promise<HttpResponseInit | InstanceType<typeof HttpResponse>>;
}

function routesOf(regs: readonly FunctionRegistration[]): Route[] {
  const out: Route[] = [];
  for (const r of regs) {
    const t = Object.values(r.bindings).find((b) => b.type === "httpTrigger");
    if (!t) continue;
    const template = typeof t.route === "string" ? t.route : r.name;
    const segments = template.split("/").filter(Boolean);
    for (const s of segments) if (/[{}]/.test(s) && !/^\{\w+\}$/.test(s)) throw new Error(`Route "${template}" of ${r.name}: only plain {name} parameters are served here`);
    out.push({
      name: r.name,
      methods: Array.isArray(t.methods) ? (t.methods as string[]).map((m) => m.toUpperCase()) : undefined,
      authLevel: String(t.authLevel ?? "function").toLowerCase(),
      segments,
      handler: r.handler as Route["handler"],
    });
  }
  return out;
}

function match(route: Route, parts: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = route.segments[i]!;
    const part = parts[i]!;
    if (seg.startsWith("{")) params[seg.slice(1, -1)] = part;
    else if (seg.toLowerCase() !== part.toLowerCase()) return undefined;
  }
  return params;
}

function sameKey(given: string | null, key: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface HttpHostOptions {
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** The function key (default: a new random one). */
  functionKey?: string;
  /** Where handlers' `context.log` lines and handler failures go (default: nowhere). */
  log?: (line: string) => void;
}

export interface HttpHost {
  /** `http://127.0.0.1:<port>` (routes are under `/api/`). */
  url: string;
  functionKey: string;
  /** The HTTP functions served, as `METHOD /api/route (auth level)`. */
  routes: string[];
  close(): Promise<void>;
}

/** Serves the HTTP functions of `src/functions/` on 127.0.0.1 as the Functions host would. */
export async function startHttpHost(o: HttpHostOptions = {}): Promise<HttpHost> {
  const routes = routesOf(await loadFunctionRegistrations());
  const functionKey = o.functionKey ?? randomBytes(32).toString("base64url");
  const log = o.log ?? (() => undefined);
  const server = http.createServer((req, res) => {
    void serve(req, res).catch((e: unknown) => {
      log(`http host: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { port } = server.address() as AddressInfo;
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
    const method = (req.method ?? "GET").toUpperCase();
    const parts = url.pathname.split("/").filter(Boolean).map((p) => decodeURIComponent(p));
    let found: { route: Route; params: Record<string, string> } | undefined;
    if (parts[0]?.toLowerCase() === "api") {
      for (const route of routes) {
        const params = match(route, parts.slice(1));
        if (params && (!route.methods || route.methods.includes(method))) {
          found = { route, params };
          break;
        }
      }
    }
    if (!found) {
      res.writeHead(404).end();
      return;
    }
    if (found.route.authLevel !== "anonymous" && !sameKey(req.headers["x-functions-key"] as string | undefined ?? url.searchParams.get("code"), functionKey)) {
      res.writeHead(401).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    const request = new HttpRequest({ method, url: url.href, headers, params: found.params, ...(chunks.length ? { body: { bytes: Buffer.concat(chunks) } } : {}) });
    const context = new InvocationContext({ invocationId: randomUUID(), functionName: found.route.name, logHandler: (level, ...args) => log(`[${found.route.name}] ${level}: ${args.map(String).join(" ")}`) });
    let result: HttpResponseInit | InstanceType<typeof HttpResponse>;
    try {
      result = await found.route.handler(request, context);
    } catch (e) {
      log(`[${found.route.name}] failed: ${e instanceof Error ? e.message : String(e)}`);
      res.writeHead(500).end();
      return;
    }
    const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
    const body = Buffer.from(await response.arrayBuffer());
    const out: Record<string, string> = {};
    response.headers.forEach((v, k) => (out[k] = v));
    res.writeHead(response.status, out).end(body);
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    functionKey,
    routes: routes.map((r) => `${(r.methods ?? ["*"]).join(",")} /api/${r.segments.join("/")} (${r.authLevel})`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
