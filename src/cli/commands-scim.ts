import { Option, type Command } from "commander";
import { EntraSyncError } from "../errors.js";
import type { ScimAudit } from "../scim/audit.js";
import { CUSTOM_COLUMNS, extensionUrn, type CustomColumn, type ScimSettingsStore } from "../scim/settings.js";
import type { ScimTokenStore } from "../scim/tokens.js";
import { DELETE_MODES, type CustomAttributeRule } from "../scim/users.js";
import { parseGuid } from "../tenants/model.js";
import { table } from "./format.js";
import type { CliIO } from "./io.js";

/** What the SCIM commands need: the token store, the audit trail, the tenants' SCIM settings. */
export interface ScimCommandDeps {
  scimTokens: ScimTokenStore;
  scimAudit: ScimAudit;
  scimSettings: ScimSettingsStore;
}

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(",").map((s) => s.trim()).filter(Boolean)];

/** The Tenant URL an admin pastes into Entra: `<app>/api/scim/v2/<tenant>`. */
export function scimUrlOf(appUrl: string | undefined, tenantId: string): string {
  const base = (appUrl ?? "https://<function-app>.azurewebsites.net").replace(/\/+$/, "");
  return `${base}/api/scim/v2/${tenantId}`;
}

/**
 * `entra-sync scim token create|rotate|revoke|list`, `scim audit`, `scim attributes set|show`. `appUrl` is the
 * app's public URL (default: ENTRA_SYNC_API_URL), used to print the tenant's SCIM URL.
 */
export function registerScimCommands(program: Command, deps: () => ScimCommandDeps, io: CliIO, appUrl: string | undefined): void {
  const scim = program.command("scim").description("the SCIM endpoint Entra's provisioning service pushes users to");
  const token = scim.command("token").description("each tenant's SCIM Secret Token (stored only as a hash)");
  const printMinted = (o: { json?: boolean; appUrl?: string }, tenantId: string, t: { token: string; info: { tokenId: string } }, revoked: string[] = []) => {
    const scimUrl = scimUrlOf(o.appUrl ?? appUrl, tenantId);
    if (!(o.appUrl ?? appUrl))
      io.err("warning: the app's URL is unknown (set ENTRA_SYNC_API_URL=$(azd env get-value FUNCTION_APP_URL) or pass --app-url): replace <function-app> in the Tenant URL with the function app's host name.");
    if (o.json) io.out(JSON.stringify({ token: t.token, scimUrl, tokenId: t.info.tokenId, ...(revoked.length ? { revoked } : {}) }));
    else
      io.out(
        [
          `Tenant URL:   ${scimUrl}`,
          `Secret Token: ${t.token}`,
          `Token id ${t.info.tokenId}. The token is shown this once and not stored (only its hash is): paste it into Entra now.`,
          ...(revoked.length ? [`Revoked the oldest token ${revoked.join(", ")} (at most two live tokens).`] : []),
        ].join("\n"),
      );
  };
  token
    .command("create")
    .description("make a tenant's first token and print it once, with the tenant's SCIM URL")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--app-url <url>", "the app's public URL (default: ENTRA_SYNC_API_URL)")
    .option("--json", 'print {"token", "scimUrl", "tokenId"}')
    .action(async (o) => {
      const tenantId = parseGuid(o.tenant, "tenant");
      printMinted(o, tenantId, await deps().scimTokens.create(tenantId));
    });
  token
    .command("rotate")
    .description("make a second token beside the live one (Entra keeps working until the new one is pasted); with two live, the older is revoked")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--app-url <url>", "the app's public URL (default: ENTRA_SYNC_API_URL)")
    .option("--json", "print JSON")
    .action(async (o) => {
      const tenantId = parseGuid(o.tenant, "tenant");
      const r = await deps().scimTokens.rotate(tenantId);
      printMinted(o, tenantId, r, r.revoked);
    });
  token
    .command("revoke")
    .description("revoke one token of a tenant (--token-id) or all of them (--all); a revoked token gets 401 at once")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--token-id <id>", "the token to revoke (see scim token list)")
    .option("--all", "revoke every token of the tenant (provisioning stops)")
    .option("--json", "print JSON")
    .action(async (o) => {
      const tenantId = parseGuid(o.tenant, "tenant");
      if (!o.tokenId === !o.all) throw new EntraSyncError("INPUT_INVALID", "Pass either --token-id <id> (see entra-sync scim token list) or --all.", { field: "token-id" });
      const revoked = await deps().scimTokens.revoke(tenantId, o.all ? { all: true } : { tokenId: String(o.tokenId) });
      io.out(o.json ? JSON.stringify({ tenantId, revoked }) : `Revoked ${revoked.join(", ")}.`);
    });
  token
    .command("list")
    .description("a tenant's live tokens: id, created, last used (never the token)")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--json", "print one JSON array")
    .action(async (o) => {
      const list = await deps().scimTokens.list(parseGuid(o.tenant, "tenant"));
      if (o.json) io.out(JSON.stringify(list));
      else io.out(table(["token id", "created", "last used"], list.map((t) => [t.tokenId, t.createdAt, t.lastUsedAt ?? "—"])));
    });

  scim
    .command("audit")
    .description("the tenant's SCIM writes, newest first: when, token id, operation, resource, attributes changed")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print one JSON array")
    .action(async (o) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new EntraSyncError("INPUT_INVALID", `--limit must be a positive whole number; got "${o.limit}".`, { field: "limit" });
      const list = await deps().scimAudit.list(parseGuid(o.tenant, "tenant"), limit);
      if (o.json) io.out(JSON.stringify(list));
      else io.out(table(["at", "token id", "operation", "resource", "id", "status", "attributes"], list.map((e) => [e.at, e.tokenId, e.operation, e.resource, e.resourceId, String(e.status), e.attributes.join(" ")])));
    });

  const attrs = scim.command("attributes").description("custom extension attributes of a tenant (Entra: Edit attribute list for customappsso)");
  attrs
    .command("set")
    .description("declare the tenant's custom extension attributes and where each lands (replaces the previous declaration)")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--extension <name>", "the <Name> of urn:ietf:params:scim:schemas:extension:<Name>:2.0:User")
    .option("--attribute <name[=column]>", `an attribute of the extension, optionally landing in a platform column (${CUSTOM_COLUMNS.join(", ")}); repeatable or comma-separated`, collect)
    .option("--prefix <name>", "where attributes without a column are kept: <prefix>.<attribute>", "scim")
    .addOption(new Option("--undeclared <what>", "extension attributes not declared here").choices(["keep", "refuse"]).default("keep"))
    .option("--json", "print JSON")
    .action(async (o) => {
      const tenantId = parseGuid(o.tenant, "tenant");
      const list: string[] = o.attribute ?? [];
      if (list.length && !o.extension) throw new EntraSyncError("INPUT_INVALID", "--attribute needs --extension <Name> (the Name in urn:ietf:params:scim:schemas:extension:<Name>:2.0:User).", { field: "extension" });
      const rules: CustomAttributeRule[] = list.map((a) => {
        const [attribute, column] = a.split("=");
        return { urn: extensionUrn(String(o.extension)), attribute: attribute!, ...(column ? { column: column as CustomColumn } : {}) };
      });
      const store = deps().scimSettings;
      // The declaration is replaced; the tenant's other SCIM settings (the delete mode) stay as they are.
      const s = await store.set({ ...(await store.get(tenantId)), prefix: String(o.prefix), rules, undeclared: o.undeclared });
      io.out(o.json ? JSON.stringify(s) : describeSettings(s));
    });
  attrs
    .command("show")
    .description("the tenant's declared custom extension attributes")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--json", "print JSON")
    .action(async (o) => {
      const s = await deps().scimSettings.get(parseGuid(o.tenant, "tenant"));
      io.out(o.json ? JSON.stringify(s) : describeSettings(s));
    });

  const settings = scim.command("settings").description("a tenant's SCIM settings: what DELETE does, and the custom attributes (scim attributes)");
  settings
    .command("set")
    .description("change a tenant's SCIM settings (the others stay); reaches every instance within 30 s")
    .requiredOption("--tenant <guid>", "tenant id")
    .addOption(new Option("--delete <mode>", "what Entra's DELETE does: mark the platform user removed (kept, revived by a later POST), or erase it").choices([...DELETE_MODES]))
    .option("--json", "print JSON")
    .action(async (o) => {
      const tenantId = parseGuid(o.tenant, "tenant");
      if (!o.delete) throw new EntraSyncError("INPUT_INVALID", `Nothing to set: pass --delete ${DELETE_MODES.join("|")}.`, { field: "delete" });
      const store = deps().scimSettings;
      const s = await store.set({ ...(await store.get(tenantId)), onDelete: o.delete });
      io.out(o.json ? JSON.stringify(s) : describeSettings(s));
    });
  settings
    .command("show")
    .description("a tenant's SCIM settings")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--json", "print JSON")
    .action(async (o) => {
      const s = await deps().scimSettings.get(parseGuid(o.tenant, "tenant"));
      io.out(o.json ? JSON.stringify(s) : describeSettings(s));
    });
}

const DELETE_TEXT = {
  mark: "marks the platform user removed (nothing is erased; a later POST of the same externalId brings it back)",
  erase: "erases the platform user, its lookup entries and its claims (a later POST creates a new user)",
};

function describeSettings(s: { tenantId: string; prefix: string; rules: CustomAttributeRule[]; undeclared: string; onDelete?: string }): string {
  const rows = s.rules.map((r) => [`${r.urn}:${r.attribute}`, r.column ?? `${s.prefix}.${r.attribute}`]);
  return [
    `SCIM settings of ${s.tenantId}:`,
    `  DELETE ${DELETE_TEXT[s.onDelete === "erase" ? "erase" : "mark"]} (--delete ${s.onDelete === "erase" ? "erase" : "mark"})`,
    `  undeclared extension attributes are ${s.undeclared === "keep" ? `kept under ${s.prefix}.` : "refused (400)"}`,
    rows.length ? table(["attribute (Entra target)", "lands in"], rows) : "No custom extension attributes declared.",
  ].join("\n");
}
