import type { Command } from "commander";
import { auditToCsv, queryAudit, type AuditQueryDeps } from "../audit/query.js";
import type { StoredAuditEntry } from "../audit/entry.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

const show = (v: string | null) => (v === null ? "∅" : v);

/** `audit`: a tenant's audit log (every attribute change and Entra write), added to the CLI built by `buildCli`. */
export function registerAuditCommands(program: Command, getApp: () => AuditQueryDeps, io: CliIO): void {
  program
    .command("audit")
    .description("the audit log of a tenant, newest first: every attribute change the platform directory received and every write into Entra")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--user <id>", "only this user (platform user id or Entra object id)")
    .option("--run <runId>", "only this run")
    .option("--since <date>", "only entries at or after this date (YYYY-MM-DD, UTC) or time (ISO)")
    .option("--limit <n>", "entries per page, 1–1000", "100")
    .option("--continuation <token>", "go on where the previous page ended")
    .option("--all", "every page (up to the whole retained log)")
    .option("--csv", "print CSV, one line per attribute change")
    .option("--json", "print one JSON array, one element per entry")
    .action(async (o) => {
      const entries: StoredAuditEntry[] = [];
      let continuation: string | undefined = o.continuation;
      do {
        const page = await queryAudit(getApp(), { tenantId: o.tenant, userId: o.user, runId: o.run, since: o.since, limit: o.limit, continuation });
        entries.push(...page.entries);
        continuation = page.continuation;
      } while (o.all && continuation);
      if (o.csv) io.out(auditToCsv(entries).trimEnd());
      else if (o.json) io.out(JSON.stringify(entries));
      else {
        const rows: string[][] = [];
        for (const e of entries) {
          const who = `${e.source} ${e.target === "entra" ? "→ Entra" : "→ platform"}`;
          const changes = e.changes.length ? e.changes : [{ attribute: "", old: null, new: null }];
          changes.forEach((c, i) => rows.push(i === 0 ? [e.at, e.runId ?? "", e.userId, who, c.attribute, `${show(c.old)} → ${show(c.new)}`, e.outcome + (e.reason ? `: ${e.reason}` : "")] : ["", "", "", "", c.attribute, `${show(c.old)} → ${show(c.new)}`, ""]));
        }
        io.out(table(["at", "run", "user", "source", "attribute", "old → new", "outcome"], rows));
        io.out(`${entries.length.toLocaleString("en-US")} entr${entries.length === 1 ? "y" : "ies"}.`);
      }
      if (continuation) io.err(`More entries: add --continuation ${continuation} (or --all).`);
    });
}
