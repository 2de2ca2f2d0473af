import { Command, CommanderError, Option } from "commander";
import cliProgress from "cli-progress";
import { createApp, type App } from "../composition.js";
import { loadSettings } from "../config/settings.js";
import { EntraSyncError, ensureError } from "../errors.js";
import { redactingLogger } from "../log.js";
import { boundText } from "../util/redact.js";
import type { RunReport, RunStep } from "../runs/report.js";
import { runWithLease } from "../runs/worker.js";
import { registerRunCommands } from "./commands-runs.js";
import { registerImmutableIdCommands } from "./commands-immutable-id.js";
import { registerExpiryCommands } from "./commands-expiry.js";
import { registerMappingCommands } from "./commands-mapping.js";
import { registerFleetCommands } from "./commands-fleet.js";
import { registerScimCommands } from "./commands-scim.js";
import { registerAuditCommands } from "./commands-audit.js";
import { registerNotificationCommands } from "./commands-notifications.js";
import { parseGuid, type Tenant } from "../tenants/model.js";
import { parsePause } from "../tenants/school-year.js";
import { parseCount, parsePercent, parseTermStarts } from "../tenants/guard-settings.js";
import { federatedRegistration } from "../secrets/federated.js";
import { adminConsentUrl } from "../graph/permissions.js";
import { addTenant, importPlatformUsers, parseExpiry, setTenantSecret } from "../tenants/onboarding.js";
import { formatReport, table } from "./format.js";
import { formatOneUser } from "./format-one-user.js";
import { syncOneUser } from "../runs/one-user.js";
import { registerTenantCheckCommand, warnAboutPermissions } from "./commands-tenant-check.js";
import { processIO, type CliIO } from "./io.js";
import { MAPPED_ATTRIBUTES } from "../directory/types.js";

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(",").map((s) => s.trim()).filter(Boolean)];

function parseLinking(v: string | undefined): Record<string, unknown> {
  if (v === undefined) return {};
  if (v === "none") return { linking: null };
  const m = /^(userPrincipalName|mail):(userName|email)$/.exec(v);
  if (!m) throw new EntraSyncError("INPUT_INVALID", `--link-by must be none or ENTRA:PLATFORM with ENTRA one of userPrincipalName, mail and PLATFORM one of userName, email (e.g. userPrincipalName:userName); got "${v}".`, { field: "link-by" });
  return { linking: { entra: m[1], platform: m[2] } };
}

function parseOnly(v: string[] | undefined): RunStep[] | undefined {
  if (!v || v.length === 0) return undefined;
  return v.map((s) => {
    const k = s === "immutable-id" || s === "immutableId" ? "immutableId" : s === "update" ? "update" : undefined;
    if (!k) throw new EntraSyncError("INPUT_INVALID", `--only takes update or immutable-id, got "${s}".`, { field: "only" });
    return k;
  });
}

function tenantFields(o: Record<string, unknown>): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (o.clientId !== undefined) f.clientId = o.clientId;
  if (o.auth !== undefined) f.auth = o.auth;
  if (o.name !== undefined) f.displayName = o.name;
  if (o.cloud !== undefined) f.cloud = o.cloud;
  if (o.adminEmail !== undefined) f.adminEmails = o.adminEmail;
  if (o.locale !== undefined) f.locale = o.locale;
  if (o.interval !== undefined) f.syncIntervalMinutes = Number(o.interval);
  if (o.sensitive !== undefined) f.sensitiveAttributes = String(o.sensitive).split(",").map((x) => x.trim()).filter(Boolean);
  if (o.enabled !== undefined) f.enabled = o.enabled === "true" || o.enabled === true;
  if (o.mapping !== undefined) {
    try {
      f.mapping = JSON.parse(String(o.mapping));
    } catch {
      throw new EntraSyncError("INPUT_INVALID", `--mapping must be JSON like {"eppn":["extensionAttribute2"]}: the attributes you set (on update the others stay as they are), e.g. {"userName":["userPrincipalName"],"email":["mail"],"idpIdentifier":["userPrincipalName"],"eppn":["mail"],"ssn":[],"birthDate":false}.`, { field: "mapping" });
    }
  }
  const iid: Record<string, unknown> = {};
  if (o.immutableIdMode !== undefined) iid.mode = o.immutableIdMode;
  if (o.immutableIdSource !== undefined) iid.source = o.immutableIdSource;
  if (o.immutableIdEncoding !== undefined) iid.encoding = o.immutableIdEncoding;
  if (o.immutableIdMaxWrites !== undefined) iid.maxWritesPerRun = Number(o.immutableIdMaxWrites);
  if (o.immutableIdMaxPercent !== undefined) iid.maxPercentPerRun = Number(o.immutableIdMaxPercent);
  if (o.federatedDomains !== undefined) iid.federatedDomains = o.federatedDomains;
  if (Object.keys(iid).length) f.immutableId = iid;
  const sy: Record<string, unknown> = {};
  if (o.pause !== undefined) sy.pauses = (o.pause as string[]).map(parsePause).filter((p) => p !== null);
  if (o.readsDuringPause !== undefined) sy.readsDuringPause = o.readsDuringPause === "true";
  if (Object.keys(sy).length) f.schoolYear = sy;
  const g: Record<string, unknown> = {};
  if (o.guard !== undefined) g.enabled = o.guard === "on";
  if (o.guardRemovals !== undefined) g.removals = parseCount(String(o.guardRemovals), "guard-removals");
  if (o.guardChanges !== undefined) g.changesPercent = parsePercent(String(o.guardChanges), "guard-changes");
  if (o.guardChangesFloor !== undefined) g.changesFloor = parseCount(String(o.guardChangesFloor), "guard-changes-floor");
  if (o.termStarts !== undefined) g.termStarts = parseTermStarts(o.termStarts as string[]);
  if (o.termGuardRemovals !== undefined) g.termRemovals = parseCount(String(o.termGuardRemovals), "term-guard-removals");
  if (o.termGuardChanges !== undefined) g.termChangesPercent = parsePercent(String(o.termGuardChanges), "term-guard-changes");
  if (Object.keys(g).length) f.guard = g;
  return { ...f, ...parseLinking(o.linkBy as string | undefined) };
}

function addTenantOptions(c: Command, forAdd: boolean): Command {
  return c
    .option("--client-id <guid>", "the app (client) id of the customer's app registration (not with --auth federated)")
    .addOption(new Option("--auth <kind>", "how the tenant signs in: its own app's client secret, or admin consent to the platform's app (no secret)").choices(["secret", "federated"]))
    .option("--name <text>", "display name of the school or municipality")
    .addOption(new Option("--cloud <cloud>", "the tenant's cloud").choices(["global", "usgov", "usgovdod", "china"]))
    .option("--admin-email <addresses>", "customer admin e-mail(s), comma-separated or repeated", collect)
    .addOption(new Option("--locale <locale>", "language of mails to the admins").choices(["en", "sv"]))
    .option("--link-by <ENTRA:PLATFORM>", "link platform users without externalId by a key, e.g. userPrincipalName:userName (none to disable)")
    .option("--mapping <json>", "the attribute mapping as JSON, only the attributes you set (see README; preview first: entra-sync mapping preview)")
    .option("--interval <minutes>", "minutes between scheduled runs")
    .option("--sensitive <attributes>", "attributes whose values the audit log masks for this tenant, comma-separated (beside AUDIT_SENSITIVE_ATTRIBUTES)")
    .addOption(new Option("--immutable-id-mode <mode>", "Immutable ID sync").choices(["off", "preview", "on"]))
    .addOption(new Option("--immutable-id-source <attr>", "platform attribute the ImmutableId comes from").choices(["id", "externalId", "userName", "email", "eppn", "idpIdentifier"]))
    .addOption(new Option("--immutable-id-encoding <enc>", "how the value is encoded").choices(["raw", "base64", "guid"]))
    .option("--immutable-id-max-writes <n>", "cap of ImmutableId writes per run")
    .option("--immutable-id-max-percent <n>", "cap of ImmutableId writes per run, percent of the tenant's users")
    .addOption(new Option("--federated-domains <how>", "users whose UPN is in a federated domain").choices(["skip", "switchUpn"]))
    .option("--pause <MM-DD..MM-DD>", "a school-year pause window (UTC days) in which runs write nothing, e.g. 06-15..08-10; repeat for more; none clears them", collect)
    .addOption(new Option("--reads-during-pause <bool>", "in a pause: read and report what would change (true), or skip runs (false)").choices(["true", "false"]))
    .addOption(new Option("--guard <on|off>", "the mass-change guard of update sync (default on)").choices(["on", "off"]))
    .option("--guard-removals <n>", "hold a run that would mark more than n platform users removed (default 500)")
    .option("--guard-changes <percent>", "hold a run that would change more than this % of the linked users (default 10) …")
    .option("--guard-changes-floor <n>", "… and more than n users (default 50)")
    .option("--term-starts <MM-DD,…>", "term start days (UTC); the term thresholds apply 14 days either side (default 08-15,01-08; none clears)", collect)
    .option("--term-guard-removals <n>", "removals threshold around a term start (default 100)")
    .option("--term-guard-changes <percent>", "changes threshold around a term start, % of the linked users (default 5)")
    .addOption(forAdd ? new Option("--enabled <bool>").hideHelp() : new Option("--enabled <bool>", "enable or disable scheduled runs").choices(["true", "false"]));
}

const tenantRow = (t: Tenant) => [t.tenantId, t.displayName, t.clientId, t.cloud, t.enabled ? "yes" : "no", t.immutableId.mode, t.adminEmails.join(",")];

/** Runs a run now, in this process, with a progress bar. */
export async function runNow(app: App, io: CliIO, req: { tenantId: string; full: boolean; dryRun: boolean; only?: RunStep[] | undefined; force?: boolean; forcePlan?: string | undefined }): Promise<RunReport> {
  const bar = io.isTTY ? new cliProgress.SingleBar({ format: "  {bar} {detail}", stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined;
  const started = Date.now();
  bar?.start(200, 0, { detail: "starting …" });
  // Takes the tenant's lease like any other run: RUN_IN_PROGRESS (naming the active run) while one is queued or under way.
  try {
    return await runWithLease(app, { tenantId: req.tenantId, trigger: "manual", mode: req.full ? "full" : "incremental", dryRun: req.dryRun, only: req.only, force: req.force ?? false, forcePlan: req.forcePlan }, {
      onProgress: (r) => {
        const iid = r.immutableId;
        if (iid && iid.planned > 0) {
          // Immutable ID writes: progress against the plan.
          bar?.setTotal(iid.planned);
          bar?.update(iid.written, { detail: `${iid.written} of ${iid.planned} ImmutableIds written` });
          return;
        }
        const read = r.update.read;
        bar?.setTotal(Math.max(read + 200, 200));
        bar?.update(read, { detail: `${r.progress.pages} pages · ${read} users read · ${Math.round(read / Math.max(0.001, (Date.now() - started) / 1000))} users/s` });
      },
    });
  } finally {
    bar?.stop();
  }
}

/** Builds the CLI. `appFactory` is called once, lazily, by commands that need the app. */
export function buildCli(appFactory: () => App, io: CliIO): Command {
  let app: App | undefined;
  const getApp = () => (app ??= appFactory());
  const program = new Command("entra-sync")
    .description("Operate entra-sync: tenants, secrets, runs.")
    .exitOverride()
    // Commander's own errors (a missing option, an unknown command) are printed by runCli as `error INPUT_INVALID: …`.
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()), outputError: () => {} });

  const tenant = program.command("tenant").description("register and inspect tenants");
  addTenantOptions(tenant.command("add").description("register a customer tenant").requiredOption("--tenant-id <guid>", "the customer's Entra tenant id"), true)
    .option("--json", "print JSON")
    .action(async (o) => {
      const federated = o.auth === "federated";
      if (!o.clientId && !federated) throw new EntraSyncError("INPUT_INVALID", "--client-id is required: the app (client) id of the customer's app registration (or --auth federated: admin consent to the platform's app, no secret).", { field: "client-id" });
      if (!o.name) throw new EntraSyncError("INPUT_INVALID", "--name is required: the school's or municipality's display name.", { field: "name" });
      const t = await addTenant(getApp(), federatedRegistration(getApp().settings, { tenantId: o.tenantId, ...tenantFields(o) }));
      if (federated) {
        const url = adminConsentUrl(t);
        io.out(o.json ? JSON.stringify({ ...t, adminConsentUrl: url }) : `Registered ${t.displayName} (${t.tenantId}), federated: no secret. Next: the customer's admin (Global Administrator or Privileged Role Administrator) opens ${url} and accepts; then entra-sync tenant check ${t.tenantId}`);
      } else io.out(o.json ? JSON.stringify(t) : `Registered ${t.displayName} (${t.tenantId}). Next: entra-sync secret set --tenant ${t.tenantId} --expires <YYYY-MM-DD> --from-stdin`);
      await warnAboutPermissions(getApp(), io, t.tenantId);
    });
  registerTenantCheckCommand(tenant, getApp, io);
  registerFleetCommands(tenant, getApp, io);
  tenant
    .command("list")
    .description("list registered tenants")
    .option("--json", "print one JSON array")
    .action(async (o) => {
      const all = await getApp().tenants.listAll();
      if (o.json) io.out(JSON.stringify(all));
      else io.out(table(["tenant", "name", "client id", "cloud", "enabled", "immutable id", "admins"], all.map(tenantRow)));
    });
  tenant
    .command("show <tenantId>")
    .description("show one tenant's registration")
    .option("--json", "print JSON")
    .action(async (id: string, o) => {
      const t = await getApp().tenants.require(parseGuid(id, "tenantId"));
      io.out(o.json ? JSON.stringify(t) : JSON.stringify(t, null, 2));
    });
  addTenantOptions(tenant.command("update <tenantId>").description("change a tenant's registration"), false)
    .option("--json", "print JSON")
    .action(async (id: string, o) => {
      const fields = federatedRegistration(getApp().settings, tenantFields(o));
      if (Object.keys(fields).length === 0) throw new EntraSyncError("INPUT_INVALID", "Nothing to update: pass at least one option (see entra-sync tenant update --help).", { field: "options" });
      const t = await getApp().tenants.update(parseGuid(id, "tenantId"), fields);
      io.out(o.json ? JSON.stringify(t) : `Updated ${t.displayName} (${t.tenantId}).`);
    });

  program
    .command("secret")
    .description("store customers' client secrets in Key Vault")
    .command("set")
    .description("store a tenant's client secret with its expiry date (value from stdin; never as an argument)")
    .requiredOption("--tenant <guid>", "tenant id")
    .requiredOption("--expires <date>", "expiry date of the secret as shown in the Entra admin center (YYYY-MM-DD)")
    .option("--from-stdin", "read the secret value from standard input")
    .option("--json", "print JSON (what was stored, never the value)")
    .action(async (o) => {
      const a = getApp();
      const expires = parseExpiry(o.expires, a.clock());
      if (!o.fromStdin) throw new EntraSyncError("INPUT_INVALID", "Pass --from-stdin and pipe the secret value in (e.g. from a password manager); secrets are never taken as arguments, which end up in shell history.", { field: "from-stdin" });
      const value = (await io.readStdin()).replace(/\r?\n$/, "");
      const info = await setTenantSecret(a, o.tenant, value, expires);
      if (o.json) io.out(JSON.stringify({ tenantId: info.tenantId, name: info.name, version: info.version, expiresOn: info.expiresOn?.toISOString() ?? null, enabled: info.enabled }));
      else io.out(`Stored the client secret of ${info.tenantId} (version ${info.version}, expires ${info.expiresOn?.toISOString().slice(0, 10) ?? "—"}).`);
      await warnAboutPermissions(a, io, info.tenantId);
    });

  program
    .command("users")
    .description("the platform directory")
    .command("import <file>")
    .description("create or replace platform users from a .csv (header row; comma- or semicolon-separated) or .json (array) file")
    .addHelpText("after", `\nColumns (CSV header or JSON keys): id (required), ${MAPPED_ATTRIBUTES.join(", ")}.\nAn empty value leaves the attribute unset; the whole file is validated before anything is written.`)
    .requiredOption("--tenant <guid>", "tenant the users belong to")
    .option("--json", "print JSON")
    .action(async (file: string, o) => {
      const { tenant: t, imported, created, replaced } = await importPlatformUsers(getApp(), o.tenant, file);
      if (o.json) io.out(JSON.stringify({ tenantId: t.tenantId, imported, created, replaced }));
      else io.out(`Imported ${imported} platform users into ${t.displayName}: ${created} created, ${replaced} replaced.`);
    });

  program
    .command("run")
    .description("run a tenant now, in this process, with a progress bar")
    .requiredOption("--tenant <guid>", "tenant id")
    .option("--full", "read all users (a new initial delta round) instead of the changes since the last run")
    .option("--dry-run", "write nothing; report what would change")
    .option("--only <steps>", "update, immutable-id (comma-separated)", collect)
    .option("--force-plan <runId>", "write the Immutable ID plan of this run, which you reviewed, even over the cap (only its entries that still hold)")
    .option("--user <id|upn>", "only this Entra user (object id or userPrincipalName), read with a GET; shows each step; the delta checkpoint does not move")
    .addOption(new Option("--force").hideHelp())
    .option("--json", "print the report as one JSON line")
    .action(async (o) => {
      const a = getApp();
      if (o.user !== undefined) {
        const clash = (["full", "only", "forcePlan", "force"] as const).find((k) => o[k] !== undefined);
        if (clash) throw new EntraSyncError("INPUT_INVALID", `--user runs one user through both steps: drop --${clash.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}.`, { field: "user" });
        const r = await syncOneUser(a, { tenantId: parseGuid(o.tenant, "tenant"), user: String(o.user), dryRun: !!o.dryRun });
        io.out(o.json ? JSON.stringify(r) : formatOneUser(r));
        if (r.outcome === "failed") process.exitCode = 1;
        return;
      }
      const report = await runNow(a, io, { tenantId: parseGuid(o.tenant, "tenant"), full: !!o.full, dryRun: !!o.dryRun, only: parseOnly(o.only), force: !!o.force, forcePlan: o.forcePlan === undefined ? undefined : String(o.forcePlan) });
      io.out(o.json ? JSON.stringify(report) : formatReport(report));
      if (report.status === "failed") process.exitCode = 1;
    });

  registerRunCommands(program, getApp, io);
  registerImmutableIdCommands(program, getApp, io);
  registerExpiryCommands(program, getApp, io);
  registerMappingCommands(program, getApp, io);
  registerScimCommands(program, getApp, io, process.env.ENTRA_SYNC_API_URL);
  registerAuditCommands(program, getApp, io);
  registerNotificationCommands(program, getApp, io);
  return program;
}

/** Exit codes: 0 done, 1 failed, 2 bad input or configuration, 3 a conflict (another run of the tenant, a concurrent change): try again later. */
export const EXIT = { ok: 0, failed: 1, input: 2, conflict: 3 } as const;
const CONFLICTS = new Set<string>(["RUN_IN_PROGRESS", "RUN_HELD", "HOLD_NOT_PENDING", "STORAGE_CONFLICT"]);

export function exitCodeOf(e: EntraSyncError): number {
  if (CONFLICTS.has(e.code)) return EXIT.conflict;
  return e.errorClass === "configuration" ? EXIT.input : EXIT.failed;
}

/** Commander's message without its own "error: " prefix, with the command's usage to say what to fix. */
function commanderMessage(e: CommanderError): string {
  const text = e.message.replace(/^error:\s*/i, "").trim();
  const hint = e.code === "commander.unknownCommand" || e.code === "commander.unknownOption" ? " See entra-sync --help." : " See the command's --help.";
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.${hint}`.replace(/\.\./g, ".");
}

/** Runs the CLI; returns the exit code. Errors are printed as one line with their code and what to do. */
export async function runCli(argv: string[], io: CliIO = processIO, appFactory?: () => App): Promise<number> {
  const factory =
    appFactory ??
    (() =>
      createApp({
        settings: loadSettings(process.env),
        log: redactingLogger({ info: () => {}, warn: (l) => io.err(`warning: ${l}`), error: (l) => io.err(`error: ${l}`) }),
      }));
  const program = buildCli(factory, io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    // With --json the error is one JSON line too ({"error":{"code","message"}}), so a script reads it like any answer.
    const json = argv.includes("--json");
    const print = (code: string, message: string) => io.err(json ? JSON.stringify({ error: { code, message } }) : `error ${code}: ${message}`);
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      if (e.code === "commander.help") return EXIT.input; // no command given: the help went to stderr
      print("INPUT_INVALID", commanderMessage(e));
      return EXIT.input;
    }
    if (e instanceof EntraSyncError) {
      print(e.code, e.message);
      return exitCodeOf(e);
    }
    const message = boundText(ensureError(e).message);
    io.err(json ? JSON.stringify({ error: { code: "UNEXPECTED", message } }) : `error: ${message}`);
    return 1;
  }
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/").split("/").pop()!) && /cli[\\/]main\.[jt]s$/.test(process.argv[1]);
if (isMain) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
