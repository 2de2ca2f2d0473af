import { EntraSyncError } from "../errors.js";
import { approveHeldRun, type HoldDeps } from "../runs/hold.js";
import { unquarantineTenant, type SchedulerDeps } from "../runs/scheduler.js";
import { queueRun, type StartDeps } from "../runs/start.js";
import { showRun, type StatusDeps } from "../runs/status.js";

/** What an operator can do from the status page: the run API's and the CLI's own use cases, nothing else. */
export const ACTIONS = ["run", "run-full", "dry-run", "unquarantine", "force-plan", "approve"] as const;
export type UiAction = (typeof ACTIONS)[number];

const RUN_ID = /^[0-9]{13}-[0-9a-f]{8}$/;

/** The query or form field that carries an action's argument: the reviewed plan's run (`plan`), the held run (`run`). */
export const argFieldOf = (action: unknown): "plan" | "run" => (action === "approve" ? "run" : "plan");

/**
 * The action named in a URL, with its argument (`force-plan` takes the reviewed plan's run id, `approve` the held
 * run's id); INPUT_INVALID otherwise.
 */
export function parseAction(action: unknown, arg: unknown): { action: UiAction; arg: string } {
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action))
    throw new EntraSyncError("INPUT_INVALID", `Unknown action ${JSON.stringify(String(action).slice(0, 40))}: the page offers ${ACTIONS.join(", ")}.`, { field: "action", retryable: false });
  const a = action as UiAction;
  const given = typeof arg === "string" ? arg : "";
  if (a === "force-plan") {
    if (!RUN_ID.test(given)) throw new EntraSyncError("INPUT_INVALID", `force-plan needs the run whose plan you reviewed (plan=<run id>, e.g. 8246183918321-1a2b3c4d), got ${JSON.stringify(given.slice(0, 40))}.`, { field: "plan", retryable: false });
    return { action: a, arg: given };
  }
  if (a === "approve") {
    if (!RUN_ID.test(given)) throw new EntraSyncError("INPUT_INVALID", `approve needs the held run (run=<run id>, e.g. 8246183918321-1a2b3c4d), got ${JSON.stringify(given.slice(0, 40))}.`, { field: "run", retryable: false });
    return { action: a, arg: given };
  }
  return { action: a, arg: "" };
}

/** The confirmation question and its consequences, in the CLI's words. */
export function describeAction(action: UiAction, tenantName: string, arg: string): { title: string; consequence: string; cli: string } {
  switch (action) {
    case "run":
      return { title: `Run ${tenantName} now (incremental)`, consequence: "Queues a manual run: update sync from the checkpoint, then Immutable ID sync in the tenant's mode.", cli: "entra-sync run --tenant <id>" };
    case "run-full":
      return { title: `Run ${tenantName} now (full)`, consequence: "Queues a manual run that reads every user of the tenant again (a new initial delta round). It still only updates existing platform users.", cli: "entra-sync run --tenant <id> --full" };
    case "dry-run":
      return { title: `Dry run of ${tenantName}`, consequence: "Queues a run that writes nothing, to Entra or the platform: it reports what would change and stores the Immutable ID plan for review.", cli: "entra-sync run --tenant <id> --dry-run" };
    case "unquarantine":
      return { title: `Lift the quarantine of ${tenantName}`, consequence: "Clears the tenant's consecutive failures, backoff and quarantine: the scheduler runs it again at its next slot. Fix the cause first.", cli: "entra-sync tenant unquarantine <id>" };
    case "force-plan":
      return {
        title: `Write the reviewed Immutable ID plan of run ${arg}`,
        consequence: "Queues a run that plans afresh and writes, whatever the cap, the entries of that plan that still hold, into the customer's Entra. If the fresh plan holds users the reviewed one did not, it writes nothing.",
        cli: `entra-sync run --tenant <id> --only immutable-id --force-plan ${arg}`,
      };
    case "approve":
      return {
        title: `Approve held run ${arg} of ${tenantName}`,
        consequence:
          "Queues a run that applies the changes the mass-change guard held, reading from the same checkpoint (the guard lets it through once). If more would change now than the hold shows, that run is held again with the new numbers. Your name is recorded with the held run and in the audit log.",
        cli: `entra-sync runs approve ${arg}`,
      };
  }
}

export type ActionOutcome = { kind: "run"; runId: string } | { kind: "unquarantined"; wasQuarantined: boolean };

/** What the page's actions need (the App provides it). */
export type ActionDeps = StartDeps & Pick<SchedulerDeps, "tenants" | "health"> & Pick<StatusDeps, "leases"> & Pick<HoldDeps, "holds" | "audit">;

/** Performs a confirmed action through the same use case as the run API and the CLI; `operator` is who confirmed it. */
export async function performAction(deps: ActionDeps, tenantId: string, action: UiAction, arg: string, operator: string): Promise<ActionOutcome> {
  switch (action) {
    case "approve": {
      // The URL names the tenant: the held run must be one of its runs (RUN_NOT_FOUND otherwise), then the CLI's use case.
      await showRun(deps, tenantId, arg);
      const { run } = await approveHeldRun(deps, { runId: arg, operator });
      return { kind: "run", runId: run.runId };
    }
    case "unquarantine": {
      const r = await unquarantineTenant(deps, tenantId);
      return { kind: "unquarantined", wasQuarantined: r.wasQuarantined };
    }
    case "force-plan": {
      const report = await queueRun(deps, { tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["immutableId"], forcePlan: arg });
      return { kind: "run", runId: report.runId };
    }
    default: {
      const report = await queueRun(deps, { tenantId, trigger: "manual", mode: action === "run-full" ? "full" : "incremental", dryRun: action === "dry-run" });
      return { kind: "run", runId: report.runId };
    }
  }
}
