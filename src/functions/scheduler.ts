import { app, type InvocationContext, type Timer } from "@azure/functions";
import { scheduleDueRuns } from "../runs/scheduler.js";
import { upkeepSubscriptions } from "../notifications/upkeep.js";
import { getApp } from "./app.js";

/**
 * The `scheduler` timer (`%SYNC_SCHEDULE%`): enqueues one job per due tenant and prunes run history; then looks after
 * the tenants' Graph change notification subscriptions (create, renew, recreate, delete; a bounded number per tick).
 */
export async function schedulerHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const r = await scheduleDueRuns(getApp());
  context.log(`scheduler: ${r.tenants} tenants, ${r.enqueued} runs enqueued, skipped ${JSON.stringify(r.skipped)}, ${r.pruned} old runs pruned`);
  const u = await upkeepSubscriptions(getApp());
  context.log(`scheduler: subscriptions ${u.healthy} healthy, done ${JSON.stringify(u.done)}, ${u.failed} failed, ${u.deferred} deferred to the next tick`);
}

app.timer("scheduler", { schedule: "%SYNC_SCHEDULE%", handler: schedulerHandler });
