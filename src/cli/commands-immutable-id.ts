import type { Command } from "commander";
import { getRunPlan, planToCsv, type PlanDeps } from "../immutable-id/plan.js";
import { parseGuid } from "../tenants/model.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

/** `plan`: the stored Immutable ID plan of a run, added to the CLI built by `buildCli`. */
export function registerImmutableIdCommands(program: Command, getApp: () => PlanDeps, io: CliIO): void {
  program
    .command("plan")
    .description("print the Immutable ID plan a run stored (what preview or --dry-run would write)")
    .requiredOption("--tenant <guid>", "tenant id")
    .requiredOption("--run <runId>", "run id (see entra-sync runs)")
    .option("--csv", "print CSV (header row) instead of a table")
    .option("--json", "print one JSON array, one entry per user")
    .action(async (o) => {
      const entries = await getRunPlan(getApp(), parseGuid(o.tenant, "tenant"), String(o.run));
      if (o.csv) io.out(planToCsv(entries).trimEnd().replace(/\r\n/g, "\n"));
      else if (o.json) io.out(JSON.stringify(entries));
      else {
        io.out(table(["entra id", "user principal name", "onPremisesImmutableId", "platform user", "action"], entries.map((e) => [e.entraId, e.userPrincipalName, e.value, e.platformUserId, e.action])));
        io.out(`${entries.length.toLocaleString("en-US")} user(s) in the plan of run ${o.run}.`);
        if (entries.length) io.out(`Reviewed? Write it (only the entries that still hold): entra-sync run --tenant ${o.tenant} --only immutable-id --force-plan ${o.run}`);
      }
    });
}
