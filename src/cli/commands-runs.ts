import type { Command } from "commander";
import { EntraSyncError } from "../errors.js";
import { unquarantineTenant, type SchedulerDeps } from "../runs/scheduler.js";
import { listTenantStatuses, showRuns, type StatusDeps, type TenantStatus } from "../runs/status.js";
import { parseGuid } from "../tenants/model.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 16).replace("T", " ") : "—");

function statusRow(s: TenantStatus): string[] {
  const health = s.quarantined ? "QUARANTINED" : s.consecutiveFailures > 0 ? `failing ×${s.consecutiveFailures}` : s.lastRun ? "ok" : "new";
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
export type RunCommandDeps = StatusDeps & Pick<SchedulerDeps, "tenants" | "health">;

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
        if (s.lastFailure && s.consecutiveFailures > 0) io.out(`\n${s.displayName} (${s.tenantId}) last failed with ${s.lastFailure.code}: ${s.lastFailure.message}\n  What to do: ${s.lastFailure.action}`);
      }
    });

  program
    .command("runs")
    .description("a tenant's recent runs, newest first")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--limit <n>", "how many (1-100)", "20")
    .option("--json", "print one JSON array of run reports")
    .action(async (o) => {
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
