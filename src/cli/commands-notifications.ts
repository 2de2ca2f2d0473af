import { Option, type Command } from "commander";
import { notificationStatuses, setNotificationMode, type NotificationStatus } from "../notifications/settings.js";
import { upkeepSubscriptions, type UpkeepDeps } from "../notifications/upkeep.js";
import { parseGuid } from "../tenants/model.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { CliIO } from "./io.js";
import { table } from "./format.js";

const row = (s: NotificationStatus): string[] => [s.tenantId, s.mode, s.state, s.expiresAt ? s.expiresAt.slice(0, 16) : "—", s.lastLifecycleEvent || "—", s.lastError || ""];

/**
 * `entra-sync notifications status|on|off|upkeep`: each tenant's Graph change notification subscription. Registered
 * by `buildCli`; they call the use cases of src/notifications/ only.
 */
export function registerNotificationCommands(program: Command, getApp: () => UpkeepDeps & { tenants: Pick<TenantRegistry, "require"> }, io: CliIO): void {
  const n = program.command("notifications").description("Graph change notifications: a change in Entra starts the tenant's run within seconds");
  n.command("status")
    .description("each tenant's subscription: setting, state, expiry, last lifecycle event, last error")
    .option("--tenant <guid>", "one tenant")
    .option("--json", "print one JSON array")
    .action(async (o) => {
      const rows = await notificationStatuses(getApp(), o.tenant ? parseGuid(o.tenant, "tenant") : undefined);
      if (o.json) io.out(JSON.stringify(rows));
      else io.out(table(["tenant", "setting", "state", "expires (UTC)", "lifecycle", "last error"], rows.map(row)));
    });
  for (const mode of ["on", "off"] as const) {
    n.command(mode)
      .description(mode === "on" ? "subscribe the tenant (the scheduler's next tick creates the subscription; default for every tenant)" : "unsubscribe the tenant: the scheduler alone runs it (its next tick deletes the subscription)")
      .requiredOption("--tenant <guid>", "tenant id")
      .option("--json", "print JSON")
      .action(async (o) => {
        const s = await setNotificationMode(getApp(), parseGuid(o.tenant, "tenant"), mode);
        io.out(o.json ? JSON.stringify(s) : `notifications ${mode} for tenant ${s.tenantId} (now ${s.state}); the scheduler's next tick ${mode === "on" ? "creates" : "deletes"} the subscription, or run \`entra-sync notifications upkeep\`.`);
      });
  }
  n.command("upkeep")
    .description("create, renew, recreate and delete subscriptions now, as the scheduler's tick does")
    .addOption(new Option("--limit <n>", "actions at most").argParser((v) => Number(v)).default(50))
    .option("--json", "print JSON")
    .action(async (o) => {
      const r = await upkeepSubscriptions(getApp(), { limit: o.limit });
      io.out(o.json ? JSON.stringify(r) : `subscriptions: ${r.healthy} healthy; created ${r.done.create}, renewed ${r.done.renew}, recreated ${r.done.recreate}, deleted ${r.done.delete}; ${r.failed} failed; ${r.deferred} deferred`);
    });
}
