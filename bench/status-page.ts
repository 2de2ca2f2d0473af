/**
 * Status page benchmark: the tenants page for a fleet of registered tenants (10,000 by default), served over HTTP by
 * the local host (dev/http-host.ts) on Azurite, against the run API's JSON listing of the same tenants
 * (`GET /api/tenants`) in the same run. A tenth of the tenants carry health rows (failing, some quarantined) and
 * secret facts, so that every column has something to show.
 *
 * Budget: the page answers within 1.5 × the JSON listing's median (same tenants, same stack, same run). Both read
 * the registrations and the state rows; the page also reads the SCIM tokens, filters, sorts and renders one page of
 * 50, while the API serializes every tenant. Run alone: `npx tsx bench/status-page.ts [tenants] [rounds]`.
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { fetch } from "undici";
import { startHttpHost } from "../dev/http-host.js";
import { startLocalStack } from "../dev/stack.js";
import { provideApp } from "../src/functions/app.js";
import { mapLimit } from "../src/util/concurrency.js";
import { formatTable, log, round } from "./common.js";

export interface StatusPageRow {
  request: string;
  p50Ms: number;
  maxMs: number;
  bytes: number;
}

export interface StatusPageResult {
  tenants: number;
  rounds: number;
  rows: StatusPageRow[];
  /** 1.5 × the JSON listing's median, measured in this run. */
  budgetMs: number;
  /** The slowest page's median over the budget (≤ 1: within). */
  ratioToBudget: number;
  withinBudget: boolean;
  seedSeconds: number;
  loadAverage: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function benchStatusPage(o: { tenants: number; rounds?: number }): Promise<StatusPageResult> {
  const rounds = o.rounds ?? 7;
  const stack = await startLocalStack({ simulator: { throttle: false }, workDir: ".local/bench" });
  try {
    const { app } = stack;
    provideApp(app);
    const t0 = performance.now();
    const inputs = Array.from({ length: o.tenants }, (_, i) => ({ tenantId: randomUUID(), clientId: randomUUID(), displayName: `School ${String(i).padStart(5, "0")}` }));
    await app.tenants.addMany(inputs);
    // Every tenth tenant has failed lately (every fiftieth is quarantined) and has a known secret expiry.
    const now = Date.now();
    await mapLimit(
      inputs.filter((_, i) => i % 10 === 0),
      16,
      async (t, i) => {
        await app.health.update(t.tenantId, (h) => ({ ...h, consecutiveFailures: i % 5 === 0 ? 5 : 1, quarantined: i % 5 === 0, lastFailure: { code: "AUTH_SECRET_EXPIRED", class: "auth", message: "bench", action: "bench", at: new Date(now).toISOString() } }));
        await app.secretFacts.update(t.tenantId, () => ({ expiresOn: new Date(now + (i % 60) * 86_400_000).toISOString(), source: "keyVault", version: "v1", checkedAt: new Date(now).toISOString() }));
      },
    );
    const seedSeconds = round((performance.now() - t0) / 1000, 1);
    const host = await startHttpHost();
    try {
      const signIn = await fetch(`${host.url}/api/ui/sign-in`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ key: stack.settings.statusPage.key!, next: "/api/ui" }).toString(),
      });
      const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0]!;
      if (!cookie) throw new Error(`sign-in failed: ${signIn.status}`);
      const requests: Array<[string, string, Record<string, string>]> = [
        ["GET /api/tenants (JSON, every tenant)", "/api/tenants", { "x-functions-key": host.functionKey }],
        ["GET /api/ui (first page, worst health first)", "/api/ui", { cookie }],
        ["GET /api/ui?filter=failing&sort=secret", "/api/ui?filter=failing&sort=secret", { cookie }],
        ["GET /api/ui?sort=name&dir=desc&page=100", "/api/ui?sort=name&dir=desc&page=100", { cookie }],
        ["GET /api/ui?q=School 0999&size=200", "/api/ui?q=School%200999&size=200", { cookie }],
      ];
      const samples = new Map<string, { ms: number[]; bytes: number }>();
      // Warm both paths once, then interleave the requests round by round so that load on the shared machine hits all alike.
      for (const [, url, headers] of requests) await (await fetch(`${host.url}${url}`, { headers })).arrayBuffer();
      for (let r = 0; r < rounds; r++) {
        for (const [name, url, headers] of requests) {
          const s = performance.now();
          const res = await fetch(`${host.url}${url}`, { headers });
          const body = await res.arrayBuffer();
          const ms = performance.now() - s;
          if (res.status !== 200) throw new Error(`${name}: ${res.status}`);
          const e = samples.get(name) ?? { ms: [], bytes: body.byteLength };
          e.ms.push(ms);
          samples.set(name, e);
        }
      }
      const rows = requests.map(([name]) => {
        const e = samples.get(name)!;
        return { request: name, p50Ms: round(median(e.ms), 1), maxMs: round(Math.max(...e.ms), 1), bytes: e.bytes };
      });
      const budgetMs = round(rows[0]!.p50Ms * 1.5, 1);
      const slowest = Math.max(...rows.slice(1).map((r) => r.p50Ms));
      return { tenants: o.tenants, rounds, rows, budgetMs, ratioToBudget: round(slowest / budgetMs, 2), withinBudget: slowest <= budgetMs, seedSeconds, loadAverage: round(loadavg()[0]!, 1) };
    } finally {
      await host.close();
    }
  } finally {
    provideApp(undefined);
    await stack.stop();
  }
}

export function printStatusPage(r: StatusPageResult): void {
  console.log(formatTable([["request", "median ms", "max ms", "bytes"], ...r.rows.map((x) => [x.request, x.p50Ms, x.maxMs, x.bytes])]));
  console.log(
    `  ${r.tenants.toLocaleString("en-US")} tenants, ${r.rounds} rounds; budget = 1.5 × the JSON listing's median = ${r.budgetMs} ms; slowest page ${r.ratioToBudget} of it: ${r.withinBudget ? "within" : "OVER"}; seeded in ${r.seedSeconds} s; load average ${r.loadAverage}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const r = await benchStatusPage({ tenants: Number(process.argv[2] ?? 10_000), rounds: Number(process.argv[3] ?? 7) });
  log("");
  printStatusPage(r);
  process.exit(0);
}
