import type { Command } from "commander";
import { EntraSyncError } from "../errors.js";
import { userInfo } from "node:os";
import { unquarantineTenant, type SchedulerDeps } from "../runs/scheduler.js";
import { approveHeldRun, type HoldDeps } from "../runs/hold.js";
import { formatReport } from "./format.js";
import { listTenantStatuses, showRuns, type StatusDeps, type TenantStatus } from "../runs/status.js";
import { parseGuid } from "../tenants/model.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 16).replace("T", " ") : "—");

function statusRow(s: TenantStatus): string[] {
  const health = s.quarantined ? "QUARANTINED" : s.hold?.state === "pending" ? "HELD" : s.consecutiveFailures > 0 ? `failing ×${s.consecutiveFailures}` : s.lastRun ? "ok" : "new";
  return [
    s.tenantId,
    s.displayName,
    s.enabled ? "yes" : "no",
    s.activeRun ? `${s.activeRun.state} ${s.activeRun.runId}` : s.abandonedRun ? `abandoned ${s.abandonedRun.runId}` : "—",
    s.lastRun ? `${s.lastRun.status} ${day(s.lastRun.endedAt)}` : "—",
    s.quarantined ? "—" : day(s.nextRunAt),
    health,
    s.auth === "federated" ? "none (federated)" : s.secret ? `${s.secret.expiresOn.slice(0, 10)} (${s.secret.daysLeft} d)` : "—",
  ];
}

/** What the run commands' use cases need (the App provides it). */
export type RunCommandDeps = StatusDeps & Pick<SchedulerDeps, "tenants" | "health"> & HoldDeps;

/** `status`, `runs`, `tenant unquarantine`: the run commands, added to the CLI built by `buildCli`. */
export function registerRunCommands(program: Command, getApp: () => RunCommandDeps, io: CliIO): void {
  program
    .command("status")
    .description("every tenant (or one) with its health: last run, next run, failures, quarantine, secret expiry")
    .option("--tenant <guid>", "only this tenant")
    .option("--json", "print one JSON array")
    .action(async (o) => {
      const list = await listTenantStatuses(getApp(), o.tenant === undefined ? undefined : parseGuid(o.tenant, "tenant"));
      if (o.json) {
        io.out(JSON.stringify(list));
        return;
      }
      io.out(table(["tenant", "name", "enabled", "active run", "last run", "next run", "health", "secret expires"], list.map(statusRow)));
      for (const s of list) {
        if (s.quarantined) io.out(`\n${s.displayName} (${s.tenantId}) is quarantined: ${s.quarantineReason ?? ""}`);
        if (s.hold) io.out(`\n${s.displayName} (${s.tenantId}) ${s.hold.state === "pending" ? "is held" : "had a hold that expired"}: ${s.hold.action}`);
        if (s.lastFailure && s.consecutiveFailures > 0) io.out(`\n${s.displayName} (${s.tenantId}) last failed with ${s.lastFailure.code}: ${s.lastFailure.message}\n  What to do: ${s.lastFailure.action}`);
      }
    });

  const runs = program
    .command("runs")
    .description("a tenant's recent runs, newest first; runs approve <runId>: apply a held run")
    .option("--tenant <guid>", "tenant id (required)")
    .option("--limit <n>", "how many (1-100)", "20")
    .option("--json", "print one JSON array of run reports")
    .action(async (o) => {
      // Not a required option for commander: `runs approve <runId>` takes none, and commander checks a parent's first.
      if (o.tenant === undefined) throw new EntraSyncError("INPUT_INVALID", "Required option '--tenant <guid>' not specified. See the command's --help.", { field: "tenant" });
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new EntraSyncError("INPUT_INVALID", `--limit must be a whole number from 1 to 100, got "${o.limit}".`, { field: "limit" });
      const runs = await showRuns(getApp(), parseGuid(o.tenant, "tenant"), limit);
      if (o.json) {
        io.out(JSON.stringify(runs));
        return;
      }
      io.out(
        table(
          ["run", "trigger", "mode", "status", "queued", "duration", "read", "updated", "failure"],
          runs.map((r) => [r.runId, r.trigger, `${r.mode}${r.dryRun ? " (dry)" : ""}`, r.status, day(r.queuedAt), r.durationMs !== undefined ? `${(r.durationMs / 1000).toFixed(1)} s` : "—", String(r.update.read), String(r.update.updated), r.failure ? r.failure.code : ""]),
        ),
      );
    });

  runs
    .command("approve <runId>")
    .description("approve a run the mass-change guard held: queues a run that applies its changes (the guard is bypassed once)")
    .option("--operator <name>", "who approves, recorded with the run and in the audit log (default: your user name)")
    .option("--json", "print JSON: the held run and the queued run")
    .action(async (runId: string, o) => {
      const { held, run } = await approveHeldRun(getApp(), { runId, operator: o.operator ?? userInfo().username });
      if (o.json) io.out(JSON.stringify({ held, run }));
      else io.out(`${formatReport(held)}\n\nApproved by ${held.hold?.approvedBy ?? ""}: run ${run.runId} is queued and applies it (entra-sync runs --tenant ${run.tenantId}).`);
    });

  const tenant = program.commands.find((c) => c.name() === "tenant") ?? program.command("tenant");
  tenant
    .command("unquarantine <tenantId>")
    .description("let the scheduler run a quarantined tenant again (clears its backoff and failure count)")
    .option("--json", "print JSON")
    .action(async (id: string, o) => {
      const r = await unquarantineTenant(getApp(), parseGuid(id, "tenantId"));
      io.out(o.json ? JSON.stringify(r) : r.wasQuarantined ? `Lifted the quarantine of ${r.tenantId}; the scheduler runs it again at its next tick.` : `${r.tenantId} was not quarantined; its backoff and failure count are cleared.`);
    });
}
