import type { Command } from "commander";
import { ensureError } from "../errors.js";
import { checkTenant, type TenantCheckResult } from "../tenants/check.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

/** What the tenant check needs (the App provides it). */
type TenantCheckDeps = Parameters<typeof checkTenant>[0];

const RESULT: Record<TenantCheckResult["checks"][number]["result"], string> = { ok: "ok", denied: "denied (403)", error: "error", notTried: "not tried (write)" };

/** The check as text: one row per permission · needed for · granted · result · what to do. */
export function formatTenantCheck(r: TenantCheckResult): string {
  const lines = [`Graph permissions of ${r.displayName} (${r.tenantId}), app ${r.clientId}`];
  if (r.tokenError) lines.push(`  no token (${r.tokenError.code}): ${r.tokenError.message}`);
  else lines.push(`  the token holds: ${r.roles.length ? r.roles.join(", ") : "no application permissions (admin consent not granted)"}`);
  const rows = r.checks.map((c) => [c.permission, `${c.neededFor}${c.optional ? " (optional)" : ""}`, c.granted ? "yes" : "no", `${RESULT[c.result]}${c.detail ? ` ${c.detail}` : ""}`, c.action || "—"]);
  lines.push(table(["permission", "needed for", "granted", "result", "what to do"], rows));
  if (r.ok) lines.push("Every required permission works.");
  else if (r.tokenError && r.tokenError.code !== "AUTH_CONSENT_MISSING") lines.push(`No permission could be checked: fix the error above, then run entra-sync tenant check ${r.tenantId} again.`);
  else lines.push(`Missing consent: the customer's admin grants it at ${r.adminConsentUrl}`);
  return lines.join("\n");
}

/**
 * Runs the check after `tenant add` / `secret set` and prints what is missing as warnings. Never fails the command:
 * the registration stands, and the check can be repeated with `entra-sync tenant check`.
 */
export async function warnAboutPermissions(app: TenantCheckDeps, io: CliIO, tenantId: string): Promise<void> {
  try {
    const r = await checkTenant(app, tenantId);
    if (r.tokenError?.code === "SECRET_MISSING") {
      io.err(`note: the Graph permissions are checked once the secret is stored (entra-sync tenant check ${tenantId}).`);
      return;
    }
    if (r.tokenError) {
      io.err(`warning: ${r.tokenError.code}: ${r.tokenError.message}`);
      return;
    }
    for (const c of r.checks) if (c.action) io.err(`${c.optional ? "note" : "warning"}: ${c.permission} (${c.neededFor}): ${c.action}`);
  } catch (e) {
    io.err(`warning: the Graph permissions could not be checked: ${ensureError(e).message}`);
  }
}

/** `tenant check <tenantId>`, added to the `tenant` command built by `buildCli`. */
export function registerTenantCheckCommand(tenant: Command, getApp: () => TenantCheckDeps, io: CliIO): void {
  tenant
    .command("check <tenantId>")
    .description("check the Graph permissions the tenant's app holds against what its capabilities need (reads only)")
    .option("--json", "print JSON")
    .action(async (id: string, o) => {
      const r = await checkTenant(getApp(), id);
      io.out(o.json ? JSON.stringify(r) : formatTenantCheck(r));
      if (!r.ok) process.exitCode = 1;
    });
}
