import type { Command } from "commander";
import { IMPORT_COLUMNS, importTenants, removeTenant, type RemoveDeps } from "../tenants/fleet.js";
import type { CliIO } from "./io.js";

type FleetDeps = Parameters<typeof importTenants>[0] & RemoveDeps;

/** `tenant import FILE.csv` and `tenant remove G [--purge]`, added to the `tenant` command built by `buildCli`. */
export function registerFleetCommands(tenant: Command, getApp: () => FleetDeps, io: CliIO): void {
  tenant
    .command("import <file>")
    .description("register many tenants from a CSV file (validated whole before anything is written); prints each admin-consent URL and checks each tenant")
    .addHelpText("after", `\nColumns (header row, , or ; separated): ${IMPORT_COLUMNS.join(", ")}.\ntenantId, clientId and name are required; adminEmails holds one or more addresses (space, | or ; between them);\nlinkBy is ENTRA:PLATFORM (e.g. userPrincipalName:userName) or none; interval is minutes.`)
    .option("--json", "print one JSON array")
    .action(async (file: string, o) => {
      // Progress on stderr: each stage's first and last step, and at most one line every 2 s between them.
      let last = 0;
      const rows = await importTenants(getApp(), file, {
        onProgress: (p) => {
          const now = Date.now();
          if (p.done !== p.total && now - last < 2000) return;
          last = now;
          io.err(`tenant import: ${p.stage} ${p.done.toLocaleString("en-US")} / ${p.total.toLocaleString("en-US")}`);
        },
      });
      if (o.json) {
        io.out(JSON.stringify(rows.map((r) => ({ tenantId: r.tenant.tenantId, displayName: r.tenant.displayName, adminConsentUrl: r.adminConsentUrl, check: r.check }))));
        return;
      }
      io.out(`Registered ${rows.length} tenant(s). Each customer's admin grants consent at the link, then store each secret: entra-sync secret set --tenant <id> --expires <YYYY-MM-DD> --from-stdin`);
      for (const r of rows) {
        const check = r.check?.tokenError ? `${r.check.tokenError.code}${r.check.tokenError.code === "SECRET_MISSING" ? " (store the secret, then entra-sync tenant check)" : `: ${r.check.tokenError.message}`}` : r.check?.ok ? "every required permission works" : "permissions missing (entra-sync tenant check)";
        io.out(`  ${r.tenant.tenantId}  ${r.tenant.displayName}\n    consent: ${r.adminConsentUrl}\n    check:   ${check}`);
      }
    });

  tenant
    .command("remove <tenantId>")
    .description("offboard a tenant: disable it; with --purge delete its secret, connector space, checkpoints, runs, plans, audit rows and SCIM tokens (platform users stay, unlinked)")
    .option("--purge", "delete every copy of the tenant's data this app holds")
    .option("--json", "print JSON")
    .action(async (id: string, o) => {
      const r = await removeTenant(getApp(), id, { purge: !!o.purge });
      if (o.json) {
        io.out(JSON.stringify(r));
        return;
      }
      io.out(`${r.tenantId}: disabled${r.purged ? " and purged" : ""}.`);
      if (r.purged) {
        const rows = Object.entries(r.deleted);
        io.out(rows.length ? `Deleted: ${rows.map(([what, n]) => `${what} ${n}`).join(", ")}.` : "Nothing else was stored for it.");
        io.out(`Platform users kept: ${r.platformUsersUnlinked} unlinked (externalId and removal marks cleared).`);
      }
      for (const n of r.notes) io.out(`note: ${n}`);
    });
}
