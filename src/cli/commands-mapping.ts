import type { Command } from "commander";
import { EntraSyncError } from "../errors.js";
import { previewMapping, type MappingPreview, type MappingPreviewDeps } from "../mapping/preview.js";
import { parseGuid } from "../tenants/model.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

const show = (v: string | null | undefined) => (v === undefined ? "(no platform user)" : v === null || v === "" ? "—" : v);

/** The preview as text: per user the attributes the mapping decides, platform now · today · proposed. */
export function formatMappingPreview(p: MappingPreview): string {
  const lines = [`Mapping preview for tenant ${p.tenantId}: ${p.sampled} user(s) sampled from the connector space`];
  const changed = Object.entries(p.changes);
  lines.push(changed.length ? `  would change: ${changed.map(([a, n]) => `${a} for ${n}`).join(", ")}` : "  the proposed mapping gives the same values for every sampled user");
  for (const u of p.users) {
    lines.push("", `${u.userPrincipalName ?? u.entraId} (${u.entraId})${u.platformUserId ? ` → platform user ${u.platformUserId}` : " (not matched)"}`);
    lines.push(table(["attribute", "platform now", "today", "proposed", ""], u.attributes.map((a) => [a.attribute, show(a.platform), `${show(a.today)}${a.todaySource ? ` (${a.todaySource})` : ""}`, `${show(a.proposed)}${a.proposedSource ? ` (${a.proposedSource})` : ""}`, a.changed ? "CHANGES" : ""])).replace(/^/gm, "  "));
  }
  for (const n of p.notes) lines.push("", `note: ${n}`);
  return lines.join("\n");
}

/** `mapping preview`: added to the CLI built by `buildCli`. */
export function registerMappingCommands(program: Command, getApp: () => MappingPreviewDeps, io: CliIO): void {
  program
    .command("mapping")
    .description("the attribute mapping")
    .command("preview")
    .description("the platform values a proposed mapping gives for a sample of users, beside today's (reads only)")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--mapping <json>", 'the proposed mapping, whole or only the attributes that change (e.g. {"eppn":["extensionAttribute2"]}); default: today\'s')
    .option("--sample <n>", "how many users (1-1000)", "10")
    .option("--json", "print the preview as one JSON object")
    .action(async (o) => {
      let mapping: unknown;
      if (o.mapping !== undefined) {
        try {
          mapping = JSON.parse(String(o.mapping));
        } catch {
          throw new EntraSyncError("INPUT_INVALID", `--mapping must be JSON like {"eppn":["extensionAttribute2"]} (the attributes you change; the others stay as they are).`, { field: "mapping" });
        }
      }
      const sample = Number(o.sample);
      const p = await previewMapping(getApp(), parseGuid(o.tenant, "tenant"), { mapping, sample });
      io.out(o.json ? JSON.stringify(p) : formatMappingPreview(p));
    });
}
