/**
 * The Immutable ID part of `npm start`: a preview run (the plan printed as a short table with its total), then the
 * tenant switched to `on` and a run that writes, with its report.
 */
import { formatReport, table } from "../../src/cli/format.js";
import { runNow } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { getRunPlan } from "../../src/immutable-id/plan.js";
import { capOf } from "../../src/immutable-id/planner.js";
import type { RunReport } from "../../src/runs/report.js";
import type { LocalStack } from "../stack.js";

export interface ImmutableIdDemoOptions {
  /** Where lines go (default stdout). */
  say?: (line: string) => void;
  /** IO for the run's progress bar (default: none). */
  io?: CliIO;
  /** Rows of the plan to show (default 8). */
  rows?: number;
}

/** Runs Immutable ID sync for a registered demo tenant: preview, then on. Returns the report of the writing run. */
export async function immutableIdDemo(stack: LocalStack, tenantId: string, o: ImmutableIdDemoOptions = {}): Promise<RunReport> {
  const say = o.say ?? ((s: string) => process.stdout.write(`${s}\n`));
  const io: CliIO = o.io ?? { out: () => {}, err: () => {}, readStdin: async () => "", isTTY: false };
  const app = stack.app;
  let tenant = await app.tenants.require(tenantId);
  if (tenant.immutableId.mode !== "preview") tenant = await app.tenants.update(tenantId, { immutableId: { ...tenant.immutableId, mode: "preview" } });

  say(`\nImmutable ID sync (platform → Entra), mode preview: plan only, nothing written`);
  const preview = await runNow(app, io, { tenantId, full: false, dryRun: false, only: ["immutableId"] });
  const plan = await getRunPlan(app, tenantId, preview.runId);
  const n = o.rows ?? 8;
  say(table(["user principal name", "onPremisesImmutableId", "platform user", "action"], plan.slice(0, n).map((e) => [e.userPrincipalName, e.value, e.platformUserId, e.action])));
  const iid = preview.immutableId;
  const skipped = Object.entries(iid?.skipped ?? {}).map(([k, v]) => `${k} ${v}`).join(", ");
  say(`  … ${plan.length.toLocaleString("en-US")} planned in total (${(iid?.candidates ?? 0).toLocaleString("en-US")} candidates; skipped: ${skipped || "none"}).`);
  say(`  full plan: entra-sync plan --tenant ${tenantId} --run ${preview.runId} [--csv]`);

  tenant = await app.tenants.update(tenantId, { immutableId: { ...tenant.immutableId, mode: "on" } });
  const cap = capOf(tenant.immutableId, iid?.capExceeded?.tenantUsers ?? 0);
  const force = iid?.capExceeded !== undefined;
  say(`\nSwitched the tenant to mode on${force ? `; the plan is over the cap of ${cap} writes per run, so the run is forced with the plan just shown (an operator's --force-plan ${preview.runId} after reviewing it)` : ""}.`);
  const report = await runNow(app, io, { tenantId, full: false, dryRun: false, only: ["immutableId"], forcePlan: force ? preview.runId : undefined });
  say(formatReport(report));
  return report;
}
