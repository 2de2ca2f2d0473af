/**
 * SCIM benchmark: Entra's initial provisioning cycle against the SCIM endpoint served over HTTP by the local host
 * (dev/http-host.ts) on Azurite — for each user a matching query (`userName eq …`, nothing found) and a POST — with
 * `concurrency` requests in flight per tenant. Measures requests/s and p50/p99 per request, first for one tenant alone,
 * then for two tenants at once (each must keep its rate, and see only its own users).
 *
 * The bound is measured in the same run: Azurite's own rate for single-entity table requests at the same
 * concurrency, divided by the table requests one SCIM request costs (counted). The per-token rate limit is raised
 * for the run, so that the endpoint's capacity is measured rather than the limit (50/s by default).
 * Run alone: `npx tsx bench/scim.ts [users] [concurrency]`.
 */
import { randomUUID } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { fetch } from "undici";
import { startHttpHost } from "../dev/http-host.js";
import { startLocalStack } from "../dev/stack.js";
import { provideApp } from "../src/functions/app.js";
import { silentLogger } from "../src/log.js";
import { ScimEndpoint } from "../src/scim/endpoint.js";
import { ScimGroupStore } from "../src/scim/groups.js";
import { RateLimiter } from "../src/scim/rate-limit.js";
import { mapLimit } from "../src/util/concurrency.js";
import { formatTable, log, round } from "./common.js";

export interface ScimPhase {
  phase: string;
  tenant: number;
  users: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  queryP99Ms: number;
  postP99Ms: number;
  failures: number;
}

export interface ScimBenchResult {
  concurrency: number;
  phases: ScimPhase[];
  tableRequestsPerScimRequest: number;
  azuriteOpsPerSecond: number;
  boundRequestsPerSecond: number;
  ratioToBound: number;
  isolation: string;
  /** The machine's 1-minute load average at the end (the build machines are shared). */
  loadAverage: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : 0;
};

export async function benchScim(o: { users: number; concurrency?: number }): Promise<ScimBenchResult> {
  const concurrency = o.concurrency ?? 8;
  const stack = await startLocalStack({ simulator: { throttle: false }, workDir: ".local/bench" });
  let tableRequests = 0;
  const counter: PipelinePolicy = { name: "count", sendRequest: (req, next) => ((tableRequests += 1), next(req)) };
  for (const t of Object.values(stack.app.tables)) t.pipeline.addPolicy(counter);
  const app = stack.app;
  provideApp({ ...app, scim: new ScimEndpoint({ directory: app.directory, tokens: app.scimTokens, audit: app.scimAudit, groups: new ScimGroupStore(app.tables.scimGroups), limiter: new RateLimiter(1e9, 1e9), clock: app.clock, log: silentLogger }) });
  const host = await startHttpHost();
  try {
    // Azurite's own rate at this concurrency: single-entity inserts and point reads, the kinds the endpoint makes.
    const probe = app.tables.scimAudit;
    const ids = Array.from({ length: 2000 }, (_, i) => `bench-${i}`);
    const pk = randomUUID();
    const a0 = performance.now();
    await mapLimit(ids, concurrency, (id) => probe.createEntity({ partitionKey: pk, rowKey: id, v: 1 }));
    await mapLimit(ids, concurrency, (id) => probe.getEntity(pk, id));
    const azuriteOpsPerSecond = (ids.length * 2) / ((performance.now() - a0) / 1000);

    const tenant = async (index: number, phase: string, users: number) => {
      const tenantId = randomUUID();
      const { token } = await app.scimTokens.create(tenantId);
      const base = `${host.url}/api/scim/v2/${tenantId}`;
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/scim+json" };
      const queryMs: number[] = [];
      const postMs: number[] = [];
      let failures = 0;
      const t0 = performance.now();
      await mapLimit(Array.from({ length: users }, (_, i) => i), concurrency, async (i) => {
        const userName = `user${i}@school${index}.example`;
        let s = performance.now();
        const q = await fetch(`${base}/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, { headers });
        await q.arrayBuffer();
        queryMs.push(performance.now() - s);
        s = performance.now();
        const body = { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], externalId: randomUUID(), userName, active: true, emails: [{ primary: true, type: "work", value: userName }], name: { givenName: `G${i}`, familyName: `F${i}` }, meta: { resourceType: "User" }, roles: [] };
        const p = await fetch(`${base}/Users`, { method: "POST", headers, body: JSON.stringify(body) });
        await p.arrayBuffer();
        postMs.push(performance.now() - s);
        if (q.status !== 200 || p.status !== 201) failures++;
      });
      const seconds = (performance.now() - t0) / 1000;
      const all = [...queryMs, ...postMs];
      const list = (await (await fetch(`${base}/Users?count=0`, { headers })).json()) as { totalResults: number };
      const phaseRow: ScimPhase = { phase, tenant: index, users, requests: all.length, seconds: round(seconds, 1), requestsPerSecond: round(all.length / seconds, 1), p50Ms: round(pct(all, 50), 1), p99Ms: round(pct(all, 99), 1), queryP99Ms: round(pct(queryMs, 99), 1), postP99Ms: round(pct(postMs, 99), 1), failures };
      return { row: phaseRow, seen: list.totalResults };
    };

    log(`  scim: ${o.users.toLocaleString("en-US")} users, one tenant alone (query + POST each, ${concurrency} in flight) …`);
    const before = tableRequests;
    const alone = await tenant(0, "alone", o.users);
    const tableRequestsPerScimRequest = round((tableRequests - before) / alone.row.requests, 2);
    const half = Math.max(1, Math.round(o.users / 2));
    log(`  scim: two tenants at once, ${half.toLocaleString("en-US")} users each …`);
    const pair = await Promise.all([tenant(1, "two at once", half), tenant(2, "two at once", half)]);
    const isolation = pair.every((p) => p.seen === half) && alone.seen === o.users ? "each tenant sees only its own users" : `LEAK: tenants saw ${[alone.seen, ...pair.map((p) => p.seen)].join(", ")}`;
    const boundRequestsPerSecond = round(azuriteOpsPerSecond / tableRequestsPerScimRequest, 1);
    return { concurrency, phases: [alone.row, ...pair.map((p) => p.row)], tableRequestsPerScimRequest, azuriteOpsPerSecond: round(azuriteOpsPerSecond), boundRequestsPerSecond, ratioToBound: round(alone.row.requestsPerSecond / boundRequestsPerSecond, 2), isolation, loadAverage: round(loadavg()[0] ?? 0, 1) };
  } finally {
    await host.close();
    provideApp(undefined);
    await stack.stop();
  }
}

export function printScim(r: ScimBenchResult): void {
  console.log(formatTable([["phase", "tenant", "users", "requests", "seconds", "req/s", "p50 ms", "p99 ms", "query p99 ms", "POST p99 ms", "failures"], ...r.phases.map((p) => [p.phase, p.tenant, p.users, p.requests, p.seconds, p.requestsPerSecond, p.p50Ms, p.p99Ms, p.queryP99Ms, p.postP99Ms, p.failures])]));
  console.log(`  bound: Azurite ${r.azuriteOpsPerSecond} single-entity requests/s at ${r.concurrency} in flight ÷ ${r.tableRequestsPerScimRequest} table requests per SCIM request = ${r.boundRequestsPerSecond} SCIM requests/s; alone ${r.ratioToBound} of it. ${r.isolation}. Load average ${r.loadAverage} on ${availableParallelism()} cores.`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const users = Number(process.argv[2] ?? 1000);
  const concurrency = Number(process.argv[3] ?? 8);
  benchScim({ users, concurrency }).then(printScim, (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
