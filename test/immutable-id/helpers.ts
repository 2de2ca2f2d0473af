import { randomUUID } from "node:crypto";
import type { LocalStack } from "../../dev/stack.js";
import type { SimUserInput } from "../../dev/simulator/types.js";
import type { PlatformUser } from "../../src/directory/types.js";
import { newGraphCounters } from "../../src/graph/client.js";
import { runImmutableIdSync } from "../../src/immutable-id/step.js";
import type { WriterHooks } from "../../src/immutable-id/writer.js";
import type { WritePacer } from "../../src/graph/write-budget.js";
import { newReport, newRunId, type RunReport } from "../../src/runs/report.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import type { ImmutableIdConfig, Tenant } from "../../src/tenants/model.js";
import { onboard } from "../support/stack.js";

export const ON: ImmutableIdConfig = { mode: "on", source: "id", encoding: "base64", maxWritesPerRun: 100_000, maxPercentPerRun: 100, federatedDomains: "skip" };

export const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** A tenant with `n` cloud users, each matched (externalId) to platform user `p-<i>`. */
export async function tenantWith(
  stack: LocalStack,
  o: { n?: number; users?: Array<SimUserInput & { id: string }>; platformUsers?: PlatformUser[]; immutableId?: Partial<ImmutableIdConfig>; federatedDomains?: string[] },
): Promise<{ tenant: Tenant; users: Array<SimUserInput & { id: string }>; platformUsers: PlatformUser[] }> {
  const users = o.users ?? [];
  const platformUsers = o.platformUsers ?? [];
  for (let i = 0; i < (o.n ?? 0); i++) {
    const id = randomUUID();
    users.push({ id, userPrincipalName: `user${i}@school.onmicrosoft.com`, givenName: `G${i}`, surname: `S${i}` });
    platformUsers.push({ id: `p-${i}`, tenantId: "x", externalId: id, userName: `user${i}@school.onmicrosoft.com` });
  }
  const { tenant } = await onboard(stack, { users, platformUsers, federatedDomains: o.federatedDomains, registration: { immutableId: { ...ON, ...o.immutableId } } });
  return { tenant, users, platformUsers };
}

/** A manual run through the same code as the CLI and the queue worker. */
export async function run(stack: LocalStack, tenantId: string, o: { only?: Array<"update" | "immutableId">; dryRun?: boolean; forcePlan?: string; full?: boolean } = {}): Promise<RunReport> {
  const r = await createRun(stack.app, { tenantId, trigger: "manual", mode: o.full ? "full" : "incremental", dryRun: o.dryRun ?? false, only: o.only, forcePlan: o.forcePlan });
  return (await executeRun(stack.app, tenantId, r.runId, { writeBudget: { writes: 3000, windowMs: 150_000 } })).report;
}

/** Only the Immutable ID step, with crash hooks (a new run report each time). */
export async function immutableStep(stack: LocalStack, tenant: Tenant, o: { hooks?: WriterHooks; forcePlan?: string; writeBudget?: WritePacer } = {}): Promise<RunReport> {
  const app = stack.app;
  const report = newReport({ runId: newRunId(new Date()), tenantId: tenant.tenantId, tenantName: tenant.displayName, trigger: "manual", mode: "incremental", dryRun: false, only: ["immutableId"], forcePlan: o.forcePlan, now: new Date() });
  await app.runs.save(report);
  const counters = newGraphCounters();
  const { graph } = app.graphFor(tenant, await app.secrets.get(tenant.tenantId), counters);
  try {
    const deps = o.writeBudget ? Object.assign(Object.create(app) as typeof app, { writeBudget: () => o.writeBudget! }) : app;
    await runImmutableIdSync(deps, await app.tenants.require(tenant.tenantId), report, { graph, hooks: o.hooks, concurrency: 2 });
  } finally {
    report.graph = { ...counters };
    await app.runs.save(report);
  }
  return report;
}

/** ImmutableId PATCHes per user (inner $batch requests whose body set it), from the simulator's request log. */
export function patchesPerUser(stack: LocalStack, tenantId: string, onlyOk = true): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of stack.sim.control.requestLog()) {
    if (e.method !== "PATCH" || e.tenantId !== tenantId) continue;
    if (onlyOk && (e.status < 200 || e.status >= 300)) continue;
    const id = /\/users\/([^/?]+)/.exec(e.path)?.[1];
    if (id) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/**
 * The state a crash right after switchUpn's first PATCH leaves: the UPN moved to the initial domain in Entra, the
 * move recorded in the user's connector-space row.
 */
export async function leaveOnTemporaryUpn(stack: LocalStack, tenantId: string, id: string, move: { original: string; temporary: string; value?: string }): Promise<void> {
  stack.sim.control.updateUser(tenantId, id, { userPrincipalName: move.temporary });
  const row = (await stack.app.connector.get(tenantId, id))!;
  await stack.app.connector.putMany(tenantId, [{ ...row, upnSwitch: { ...move, at: new Date().toISOString() } }]);
}
