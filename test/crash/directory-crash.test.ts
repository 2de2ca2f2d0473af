/**
 * Crash test with real processes. Each round onboards one demo school twice, on two separate local stacks with the same
 * tenant and user ids: a twin that runs every step in this process without interruption, and a crashed copy whose
 * `users import`, full sync and Immutable ID run (switchUpn, federated domain) each run in a child process that is
 * SIGKILLed at a random table request, then rerun (the run resumed by id, as the queue's retry would). Then the same
 * Entra changes go to both simulators and both run incrementally. The platform directory (users and index entries),
 * the connector space and the Entra users must equal the twin's; every change must arrive; no ImmutableId is written
 * twice.
 *
 * CRASH_ROUNDS (default 3: 9 kill points) and CRASH_SEED (printed) control it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { changeUsers, generateDemoTenant, type DemoTenant } from "../../dev/demo/generate.js";
import { onboardSimTenant } from "../../dev/demo/onboard.js";
import type { LocalStack } from "../../dev/stack.js";
import { prng as rng } from "../../dev/simulator/util.js";
import { runCli } from "../../src/cli/main.js";
import type { PlatformUser } from "../../src/directory/types.js";
import type { RunReport } from "../../src/runs/report.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import { keysOfRow, SUMMARY_KEY, type ShardSummary } from "../../src/connector/derived.js";
import { applyContribution, CONNECTOR_SHARDS, contributionOf, emptySummary, shardOf } from "../../src/connector/space.js";
import { useLocalStack } from "../support/stack.js";

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 3);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`crash test: seed ${SEED} (repeat with CRASH_SEED=${SEED}), ${ROUNDS} round(s) of 3 kill points`);

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "child.ts");
const crashedOf = useLocalStack({ simulator: { pageSize: 20 }, workDir: ".local/test-crash-a" });
const twinOf = useLocalStack({ simulator: { pageSize: 20 }, workDir: ".local/test-crash-b" });
const WRITE_BUDGET = { writes: 3000, windowMs: 150_000 };


// Table requests of this process, per Azurite port: how many a step costs the twin sets the range of kill points.
const requestsByPort = new Map<string, number>();
const request = http.request;
http.request = function (this: unknown, ...args: unknown[]) {
  const a0 = args[0] as string | URL | { port?: number | string } | undefined;
  const port = typeof a0 === "string" ? new URL(a0).port : a0 instanceof URL ? a0.port : String(a0?.port ?? "");
  requestsByPort.set(port, (requestsByPort.get(port) ?? 0) + 1);
  return (request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
} as typeof http.request;
syncBuiltinESMExports();
const tablePort = (s: LocalStack) => /TableEndpoint=http:\/\/[^:/]+:(\d+)/.exec(s.env.AzureWebJobsStorage ?? "")![1]!;
async function tableRequests(s: LocalStack, fn: () => Promise<unknown>): Promise<number> {
  const before = requestsByPort.get(tablePort(s)) ?? 0;
  await fn();
  return (requestsByPort.get(tablePort(s)) ?? 0) - before;
}

/** Runs the child until it asks to be killed (then SIGKILLs it) or finishes. */
async function inChild(stack: LocalStack, job: { tenantId: string; action: "import" | "run"; file?: string; runId?: string; killAfter: number }): Promise<"killed" | "finished"> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(JSON.stringify({ ...job, env: stack.env, caFile: stack.caFile }));
  let out = "";
  let err = "";
  let outcome: "killed" | "finished" | undefined;
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (!outcome && out.includes("KILL ")) {
      outcome = "killed";
      child.kill("SIGKILL");
    }
    if (!outcome && out.includes("DONE ")) outcome = "finished";
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
  if (outcome === "killed" && signal === "SIGKILL") return "killed";
  if (outcome === "finished" && code === 0) return "finished";
  throw new Error(`crash child ended unexpectedly (code ${code}, signal ${signal}): ${out}\n${err.slice(-3000)}`);
}

async function importFile(stack: LocalStack, tenantId: string, file: string): Promise<void> {
  const err: string[] = [];
  const code = await runCli(["users", "import", file, "--tenant", tenantId], { out: () => {}, err: (t) => err.push(t), readStdin: async () => "", isTTY: false }, () => stack.app);
  expect(code, err.join(" ")).toBe(0);
}

async function newRun(stack: LocalStack, tenantId: string, mode: "full" | "incremental", only: Array<"update" | "immutableId">): Promise<string> {
  return (await createRun(stack.app, { tenantId, trigger: "manual", mode, dryRun: false, only })).runId;
}
const execute = async (stack: LocalStack, tenantId: string, runId: string): Promise<RunReport> => (await executeRun(stack.app, tenantId, runId, { writeBudget: WRITE_BUDGET })).report;

/** Everything that must equal the twin's: directory rows (users and index entries), connector rows, Entra users. */
async function state(stack: LocalStack, tenantId: string) {
  const directory: Array<Record<string, unknown>> = [];
  for await (const e of stack.app.tables.platformUsers.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${tenantId}'` } })) {
    // The audit log's rows share the partition; their keys carry the time of each write, which differs between runs.
    if (e.rowKey?.startsWith(" audit|")) continue;
    const { etag: _e, timestamp: _t, ...rest } = e;
    directory.push(rest);
  }
  const connector = [];
  for await (const r of stack.app.connector.list(tenantId)) {
    // Immutable ID sync's candidate state says when a user was last looked at, which a rerun legitimately changes:
    // it is checked for agreeing with the rows instead (derivedAgrees).
    const { seenAt: _s, removedAt: _r, upnSwitch, iid: _i, iidDirty: _d, stored: _st, ...rest } = r;
    connector.push({ ...rest, upnSwitch: upnSwitch ? { original: upnSwitch.original, temporary: upnSwitch.temporary } : undefined });
  }
  const entra = stack.sim.control.listUsers(tenantId).map((u) => ({ id: u.id, upn: u.userPrincipalName, immutableId: u.onPremisesImmutableId ?? null, mail: u.mail ?? null, city: u.city ?? null }));
  const byKey = <T>(list: T[], k: (t: T) => string) => list.sort((a, b) => k(a).localeCompare(k(b)));
  return { directory: byKey(directory, (r) => r.rowKey as string), connector: byKey(connector, (r) => r.id), entra: byKey(entra, (u) => u.id) };
}

/**
 * The connector space's derived state agrees with its rows, whatever moment a process died at: each row's index
 * entries are exactly those its fields imply, no entry is without its row, and each shard's summary is the sum of
 * its rows' candidate states.
 */
async function derivedAgrees(stack: LocalStack, tenantId: string): Promise<void> {
  const want = new Map<number, Set<string>>();
  const sums = new Map<number, ShardSummary>();
  for (let sh = 0; sh < CONNECTOR_SHARDS; sh++) {
    want.set(sh, new Set());
    sums.set(sh, emptySummary());
  }
  for await (const r of stack.app.connector.list(tenantId)) {
    const keys = keysOfRow({ ...r, iid: r.stored?.iid });
    expect([...(r.stored?.keys ?? [])].sort(), `index keys of ${r.id}`).toEqual([...keys].sort());
    for (const k of keys) want.get(shardOf(r.id))!.add(k);
    applyContribution(sums.get(shardOf(r.id))!, contributionOf(r.id, r.stored?.iid), 1);
  }
  const stored = await stack.app.connector.readSummaries(tenantId);
  for (let sh = 0; sh < CONNECTOR_SHARDS; sh++) {
    const have: string[] = [];
    for await (const e of stack.app.tables.connectorSpace.listEntities({ queryOptions: { filter: `PartitionKey eq '${tenantId}_${sh}' and RowKey lt '"'`, select: ["RowKey"] } })) if (e.rowKey !== SUMMARY_KEY) have.push(e.rowKey!);
    expect(have.sort(), `index entries of shard ${sh}`).toEqual([...want.get(sh)!].sort());
    expect({ counts: stored.get(sh)!.counts, hashSum: stored.get(sh)!.hashSum }, `summary of shard ${sh}`).toEqual({ counts: sums.get(sh)!.counts, hashSum: sums.get(sh)!.hashSum });
  }
}

/**
 * The directory's lookups agree with its users, whatever the adapter keeps: each value of each lookup attribute finds
 * exactly the users that have it. A user stored without its index entry is missing here.
 */
async function lookupsAgree(stack: LocalStack, tenantId: string): Promise<void> {
  const users = [];
  for await (const u of stack.app.directory.list(tenantId)) users.push(u);
  for (const attr of ["externalId", "userName", "email"] as const) {
    const want = new Map<string, string[]>();
    for (const u of users) {
      const v = u[attr];
      if (!v) continue;
      const k = attr === "externalId" ? v : v.trim().toLowerCase();
      want.set(k, [...(want.get(k) ?? []), u.id].sort());
    }
    const found = await stack.app.directory.findBy(tenantId, attr, [...want.keys()]);
    const got = new Map([...found].map(([k, list]) => [k, list.map((u) => u.id).sort()]));
    expect(got, `lookups by ${attr}`).toEqual(want);
  }
}

function patchesPerUser(stack: LocalStack, tenantId: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of stack.sim.control.requestLog()) {
    if (e.method !== "PATCH" || e.tenantId !== tenantId || e.status < 200 || e.status >= 300) continue;
    const id = /\/users\/([^/?]+)/.exec(e.path)?.[1];
    if (id) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

async function onboardBoth(demo: DemoTenant, tenantId: string, platformUsers: PlatformUser[]): Promise<void> {
  for (const stack of [crashedOf(), twinOf()])
    await onboardSimTenant(stack, {
      tenantId,
      displayName: demo.schoolName,
      users: structuredClone(demo.entraUsers),
      platformUsers: structuredClone(platformUsers),
      managedDomain: demo.managedDomain,
      federatedDomains: [demo.federatedDomain],
      registration: {
        linking: { entra: "userPrincipalName", platform: "userName" },
        immutableId: { mode: "on", source: "id", encoding: "base64", maxWritesPerRun: 100_000, maxPercentPerRun: 100, federatedDomains: "switchUpn" },
      },
    });
}

describe("a crash at any table request loses nothing and leaves no drift", () => {
  for (let round = 0; round < ROUNDS; round++) {
    it(`round ${round + 1}: users import, full sync, Immutable ID run (switchUpn) — each killed once, rerun; then incremental`, { timeout: 600_000 }, async () => {
      const crashed = crashedOf();
      const twin = twinOf();
      const random = rng(SEED + round * 7919);
      const hex = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join("");
      const tenantId = `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
      const demo = generateDemoTenant({ seed: SEED + round, size: 60, tenantId });
      // Half the platform users are not linked yet: the full sync links them by UPN (index entries appear).
      const v1 = demo.platformUsers.map((p, i) => (i % 2 ? { ...p, externalId: undefined } : p));
      // The import replaces users with new e-mails and userNames (index entries move).
      const v2 = v1.map((p, i) => (i % 3 === 0 ? { ...p, email: `moved.${i}@${demo.managedDomain}` } : i % 5 === 0 && p.userName ? { ...p, userName: p.userName.toUpperCase() } : p));
      await onboardBoth(demo, tenantId, v1);
      const file = path.join(mkdtempSync(path.join(tmpdir(), "crash-")), "users.json");
      writeFileSync(file, JSON.stringify(v2.map(({ tenantId: _t, ...u }) => u)));
      const log: string[] = [];

      // 1. users import
      let n = await tableRequests(twin, () => importFile(twin, tenantId, file));
      let k = 1 + Math.floor(random() * n);
      log.push(`import: killed at table request ${k} of ${n}: ${await inChild(crashed, { tenantId, action: "import", file, killAfter: k })}`);
      await importFile(crashed, tenantId, file);
      await lookupsAgree(crashed, tenantId);

      // 2. full sync (links users)
      const twinFull = await newRun(twin, tenantId, "full", ["update"]);
      n = await tableRequests(twin, () => execute(twin, tenantId, twinFull));
      k = 1 + Math.floor(random() * n);
      const full = await newRun(crashed, tenantId, "full", ["update"]);
      log.push(`full sync: killed at table request ${k} of ${n}: ${await inChild(crashed, { tenantId, action: "run", runId: full, killAfter: k })}`);
      expect((await execute(crashed, tenantId, full)).status).not.toBe("failed");
      await lookupsAgree(crashed, tenantId);

      // 3. Immutable ID run with switchUpn (update step first, as scheduled runs do)
      const twinImm = await newRun(twin, tenantId, "incremental", ["update", "immutableId"]);
      n = await tableRequests(twin, () => execute(twin, tenantId, twinImm));
      k = 1 + Math.floor(random() * n);
      const imm = await newRun(crashed, tenantId, "incremental", ["update", "immutableId"]);
      log.push(`Immutable ID run: killed at table request ${k} of ${n}: ${await inChild(crashed, { tenantId, action: "run", runId: imm, killAfter: k })}`);
      expect((await execute(crashed, tenantId, imm)).status).not.toBe("failed");
      console.log(`round ${round + 1} (tenant ${tenantId}): ${log.join("; ")}`);

      // 4. the same Entra changes in both tenants, then an incremental run in each
      for (const c of changeUsers(demo, 20, SEED + round)) for (const s of [crashed, twin]) s.sim.control.updateUser(tenantId, c.id, structuredClone(c.patch));
      const twinInc = await execute(twin, tenantId, await newRun(twin, tenantId, "incremental", ["update"]));
      const inc = await execute(crashed, tenantId, await newRun(crashed, tenantId, "incremental", ["update"]));
      expect(twinInc.update.read).toBeGreaterThan(0);
      // Every change arrives: as many users updated as in the twin, none unmatched that the twin matched. (`read` may
      // differ: a rerun can already have read the ImmutableIds its killed attempt wrote, which the twin reads now.)
      const outcome = (r: RunReport) => ({ updated: r.update.updated, unmatched: r.update.unmatched, ambiguous: r.update.ambiguous, removed: r.update.removed, failed: r.update.failed });
      expect(outcome(inc)).toEqual(outcome(twinInc));

      await lookupsAgree(crashed, tenantId);
      const [a, b] = await Promise.all([state(crashed, tenantId), state(twin, tenantId)]);
      expect(a.directory).toEqual(b.directory);
      expect(a.connector).toEqual(b.connector);
      await derivedAgrees(crashed, tenantId);
      await derivedAgrees(twin, tenantId);
      expect(a.entra).toEqual(b.entra);
      // After a clean full check, nothing is left to repair.
      const repair = await crashed.app.directory.repairIndex!(tenantId);
      expect(repair).toEqual({ entries: 0, users: [] });

      // No ImmutableId is written twice: a user gets at most the twin's PATCHes, plus, for a switchUpn move cut in two
      // by the kill, the UPN put back and moved again (2).
      const federated = new Set(demo.entraUsers.filter((u) => u.userPrincipalName.endsWith(`@${demo.federatedDomain}`)).map((u) => u.id));
      const twinPatches = patchesPerUser(twin, tenantId);
      for (const [id, count] of patchesPerUser(crashed, tenantId)) expect(count, `PATCHes of ${id}`).toBeLessThanOrEqual((twinPatches.get(id) ?? 0) + (federated.has(id) ? 2 : 0));
    });
  }
});
