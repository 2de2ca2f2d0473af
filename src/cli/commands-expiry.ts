import { Option, type Command } from "commander";
import type { ExpiryDeps } from "../expiry/deps.js";
import { collectExpiries, runSecretExpiryCheck, type TenantExpiry } from "../expiry/check.js";
import { previewAlert } from "../expiry/preview.js";
import { AUTH_ALERT_CAUSES } from "../mail/templates.js";
import { parseGuid } from "../tenants/model.js";
import type { CliIO } from "./io.js";
import { table } from "./format.js";

const day = (d: Date | undefined) => (d ? d.toISOString().slice(0, 10) : "—");

function expiryRow(r: TenantExpiry): string[] {
  const notes: string[] = [];
  if (r.federated) notes.push("federated: no secret to expire");
  if (r.problem === "noSecret") notes.push("no secret stored");
  if (r.problem === "noExpiry") notes.push("no expiry date stored");
  if (r.mismatchDays) notes.push(`Entra ${r.mismatchDays > 0 ? "+" : ""}${r.mismatchDays} d vs Key Vault`);
  if (r.hintNotFound) notes.push("not found in Entra");
  if (r.applicationReadDenied) notes.push("no Application.Read.All");
  if (!r.enabled) notes.push("disabled");
  return [
    r.tenantId,
    r.displayName,
    day(r.expiresOn),
    r.daysLeft === undefined ? "—" : String(r.daysLeft),
    r.source ?? "—",
    r.dueThreshold === undefined ? "—" : `${r.dueThreshold} d`,
    r.version ? r.version.slice(0, 8) : "—",
    notes.join("; "),
  ];
}

/**
 * `entra-sync expiry`, `entra-sync alerts preview`, `entra-sync alerts check`: the secret expiry commands. Registered
 * by `buildCli`; `getApp` builds the app on first use. They call the secret expiry use cases only.
 */
export function registerExpiryCommands(program: Command, getApp: () => ExpiryDeps, io: CliIO): void {
  program
    .command("expiry")
    .description("list every tenant's client secret by days left (one Key Vault listing, no secret values read)")
    .option("--json", "print one JSON array")
    .action(async (o) => {
      const { rows } = await collectExpiries(getApp());
      if (o.json) io.out(JSON.stringify(rows));
      else io.out(table(["tenant", "name", "expires", "days left", "source", "threshold", "version", "notes"], rows.map(expiryRow)));
    });

  const alerts = program.command("alerts").description("secret expiry and sign-in alert mails");
  alerts
    .command("preview")
    .description("render the mail that would go out today for a tenant (nothing is sent)")
    .requiredOption("--tenant <guid>", "tenant id")
    .addOption(new Option("--kind <kind>", "which mail").choices(["threshold", "rotated", "authFailure", "authFixed"]).default("threshold"))
    .addOption(new Option("--cause <code>", "the auth failure (authFailure/authFixed)").choices([...AUTH_ALERT_CAUSES]).default("AUTH_SECRET_EXPIRED"))
    .option("--html", "print the HTML part instead of the plain text")
    .option("--json", "print the mail as one JSON object (to, cc, subject, text, html, notes)")
    .action(async (o) => {
      const { message, notes } = await previewAlert(getApp(), { tenantId: parseGuid(o.tenant, "tenant"), kind: o.kind, cause: o.cause });
      if (o.json) {
        io.out(JSON.stringify({ to: message.to, cc: message.cc, subject: message.subject, text: message.text, html: message.html, notes }));
        return;
      }
      for (const n of notes) io.err(n);
      io.out([`To: ${message.to.join(", ") || "(nobody)"}`, ...(message.cc.length ? [`Cc: ${message.cc.join(", ")}`] : []), `Subject: ${message.subject}`, "", o.html ? message.html : message.text].join("\n"));
    });

  alerts
    .command("check")
    .description("run the daily secret expiry check now (mails what is due, exactly once)")
    .option("--json", "print the result as one JSON line")
    .action(async (o) => {
      const r = await runSecretExpiryCheck(getApp());
      if (o.json) io.out(JSON.stringify(r));
      else {
        io.out(`Checked ${r.tenants} tenants (${r.secretsListed} secrets listed from Key Vault).`);
        const shown = r.alerts.filter((a) => a.outcome !== "skipped");
        if (shown.length === 0) io.out("No mail was due.");
        for (const a of shown) io.out(`  ${a.outcome === "sent" ? "sent  " : "FAILED"} ${a.tenantId} ${a.key}${a.path ? ` → ${a.path}` : ""}${a.error ? `: ${a.error}` : ""}`);
      }
      if (r.alerts.some((a) => a.outcome === "failed")) process.exitCode = 1;
    });
}
