import { app, type InvocationContext, type Timer } from "@azure/functions";
import { scheduleDueRuns } from "../runs/scheduler.js";
import { getApp } from "./app.js";

/** The `scheduler` timer (`%SYNC_SCHEDULE%`): enqueues one job per due tenant and prunes run history. */
export async function schedulerHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const r = await scheduleDueRuns(getApp());
  context.log(`scheduler: ${r.tenants} tenants, ${r.enqueued} runs enqueued, skipped ${JSON.stringify(r.skipped)}, ${r.pruned} old runs pruned`);
}

app.timer("scheduler", { schedule: "%SYNC_SCHEDULE%", handler: schedulerHandler });
