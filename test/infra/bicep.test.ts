/**
 * Compiles and lints infra/main.bicep with the pinned Bicep CLI (scripts/bicep.sh) and checks the ARM JSON it
 * produces: hardening flags, the exact role assignments, and app settings that match APP_SETTINGS. `bicep snapshot`
 * then predicts the resources of whole deployments (parameters applied, conditions and names resolved) with the
 * network isolation off and on. No Azure is reachable from the build machines, so this is what stands in for a
 * deployment.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAsync } from "../support/run-async.js";
import { APP_SETTINGS, type AppSettingName } from "../../src/config/settings.js";
import { QUEUES, TABLES } from "../../src/state/tables.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const mainBicep = join(root, "infra/main.bicep");

/** Settings of APP_SETTINGS that the template sets in Azure. */
const AZURE_SETTINGS: readonly AppSettingName[] = [
  "AzureWebJobsStorage__accountName",
  "AzureWebJobsStorage__credential",
  "AzureWebJobsStorage__blobServiceUri",
  "AzureWebJobsStorage__queueServiceUri",
  "AzureWebJobsStorage__tableServiceUri",
  "APP_STORAGE__accountName",
  "APP_STORAGE__credential",
  "APP_STORAGE__queueServiceUri",
  "APP_STORAGE__tableServiceUri",
  "KEY_VAULT_URL",
  "PLATFORM_CREDENTIAL",
  "SYNC_SCHEDULE",
  "SECRET_CHECK_SCHEDULE",
  "ALERT_THRESHOLDS_DAYS",
  "RUN_TIME_BUDGET_SECONDS",
  "MAIL_TRANSPORT",
  "MAIL_FROM",
  "OPERATOR_EMAIL",
  "ACS_EMAIL_ENDPOINT",
  "PLAN_RETENTION_DAYS",
  "HOLD_EXPIRY_HOURS",
  "MAX_CONCURRENT_FULL_READS",
  "AUDIT_RETENTION_DAYS",
  "AUDIT_SENSITIVE_ATTRIBUTES",
  "OPERATOR_ALERT_FAILURES",
  "NOTIFICATION_URL",
  "NOTIFY_COALESCE_SECONDS",
  "NOTIFIED_SYNC_INTERVAL_MINUTES",
  "STATUS_PAGE_AUTH",
  "STATUS_PAGE_OPERATORS_GROUP",
  "STATUS_PAGE_KEY",
  "FEDERATED_APP_CLIENT_ID",
  "MANAGED_IDENTITY_CLIENT_ID",
];
/** Settings of APP_SETTINGS for the local stack only: a key-based connection string, a secret, simulator hosts. */
const LOCAL_ONLY_SETTINGS: readonly AppSettingName[] = [
  "AzureWebJobsStorage",
  "APP_STORAGE",
  "PLATFORM_TENANT_ID",
  "PLATFORM_CLIENT_ID",
  "PLATFORM_CLIENT_SECRET",
  "ENTRA_AUTHORITY_HOST",
  "GRAPH_BASE_URL",
  "SMTP_URL",
  "MAIL_OUTBOX_DIR",
  "GRAPH_WRITE_LIMIT",
  "GRAPH_WRITE_WINDOW_SECONDS",
  "KEY_VAULT_LOCAL_STACK",
];
/**
 * The Functions host's own settings. The connection string holds the instrumentation key, an identifier and not a
 * credential: App Insights has local auth off, so telemetry is accepted only with the identity's Entra token.
 */
const HOST_SETTINGS = ["APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "languageWorkers__node__arguments"];
/** Settings Flex Consumption rejects or ignores (the runtime is in functionAppConfig). */
const NOT_ON_FLEX = [
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_EXTENSION_VERSION",
  "WEBSITE_NODE_DEFAULT_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_CONTENTSHARE",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
];

/** Built-in role definition ids, from Microsoft's list of built-in roles. */
const ROLE = {
  storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
} as const;
/** Holds every Communication action (key listing, deletion); the app gets the custom mail sender role instead. */
const COMMUNICATION_AND_EMAIL_SERVICE_OWNER = "09976791-48a7-449e-bb21-39d1a415f350";
/** Microsoft's documented custom role for sending ACS e-mail with an Entra identity: these actions, no others. */
const MAIL_SEND_ACTIONS = [
  "Microsoft.Communication/CommunicationServices/Read",
  "Microsoft.Communication/CommunicationServices/Write",
  "Microsoft.Communication/EmailServices/write",
];
/** The custom role as the role-assignment helper below names it. */
const MAIL_SENDER = "custom:mail-sender";
const BROAD_ROLES = {
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  roleBasedAccessControlAdministrator: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
};

type Json = Record<string, unknown>;
interface Found {
  resource: Json;
  /** Variables of the (nested) template that declares the resource. */
  variables: Json;
  /** The Bicep module (nested deployment name) that declares it; "" for main. */
  module: string;
}

function run(cmd: string, args: string[], timeoutMs: number) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}


/** Walks a template and every nested deployment's inline template. */
function walk(template: Json, module: string, out: Found[], outputs: Json[]): void {
  const variables = (template.variables ?? {}) as Json;
  outputs.push((template.outputs ?? {}) as Json);
  const resources = template.resources;
  const list = Array.isArray(resources) ? (resources as Json[]) : Object.values((resources ?? {}) as Record<string, Json>);
  for (const resource of list) {
    out.push({ resource, variables, module });
    const props = resource.properties as Json | undefined;
    if (resource.type === "Microsoft.Resources/deployments" && props?.template) {
      walk(props.template as Json, String(resource.name), out, outputs);
    }
  }
}

let bicep = "";
let build: { status: number | null; stdout: string; stderr: string };
let lint: { status: number | null; stdout: string; stderr: string };
let template: Json;
const resources: Found[] = [];
const outputs: Json[] = [];
let outDir = "";

function ofType(type: string): Found[] {
  return resources.filter((f) => String(f.resource.type).toLowerCase() === type.toLowerCase());
}
function one(type: string): Json {
  const found = ofType(type);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0]!.resource;
}
function props(r: Json): Json {
  return (r.properties ?? {}) as Json;
}

/** A resource as `bicep snapshot` predicts it: ids and names resolved where the snapshot can resolve them. */
interface Predicted {
  id: string;
  type: string;
  name: string;
  properties?: Json;
}
const SNAPSHOT_SCOPE = {
  tenant: "00000000-0000-0000-0000-0000000000aa",
  subscription: "00000000-0000-0000-0000-0000000000bb",
  resourceGroup: "rg-entra-sync-test",
  location: "westeurope",
};
const rgId = `/subscriptions/${SNAPSHOT_SCOPE.subscription}/resourceGroups/${SNAPSHOT_SCOPE.resourceGroup}`;
/** The public cloud's values of environment(), as Azure Resource Manager documents them. */
const AZURE_CLOUD = { suffixes: { storage: "core.windows.net", keyvaultDns: ".vault.azure.net" } };
/** Microsoft's private DNS zone of each private-endpoint sub-resource (group id) in the public cloud. */
const PRIVATE_DNS_ZONES: Record<string, string> = {
  blob: "privatelink.blob.core.windows.net",
  queue: "privatelink.queue.core.windows.net",
  table: "privatelink.table.core.windows.net",
  vault: "privatelink.vaultcore.azure.net",
};
const snapshots: Record<"open" | "isolated" | "isolatedWithIps" | "statusPage", { status: number | null; stderr: string; resources: Predicted[] }> = {
  open: { status: null, stderr: "", resources: [] },
  statusPage: { status: null, stderr: "", resources: [] },
  isolated: { status: null, stderr: "", resources: [] },
  isolatedWithIps: { status: null, stderr: "", resources: [] },
};

/**
 * Evaluates the few template functions a snapshot leaves unresolved in names and ids because they depend on the
 * cloud (environment()): string literals, format, replace, resourceId and property access, in the public cloud.
 */
function armEval(value: unknown): unknown {
  const text = String(value);
  if (!text.startsWith("[") || text.startsWith("[[")) return value;
  const src = text.slice(1, -1);
  let pos = 0;
  const skip = () => {
    while (src[pos] === " ") pos++;
  };
  const expr = (): unknown => {
    skip();
    let v: unknown;
    if (src[pos] === "'") {
      let out = "";
      pos++;
      for (;;) {
        if (src[pos] === "'" && src[pos + 1] === "'") {
          out += "'";
          pos += 2;
        } else if (src[pos] === "'") break;
        else out += src[pos++];
      }
      pos++;
      v = out;
    } else {
      const name = /^\w+/.exec(src.slice(pos))![0];
      pos += name.length;
      const args: unknown[] = [];
      expect(src[pos], `call of ${name} in ${text}`).toBe("(");
      pos++;
      skip();
      while (src[pos] !== ")") {
        args.push(expr());
        skip();
        if (src[pos] === ",") pos++;
      }
      pos++;
      const s = args.map(String);
      if (name === "format") v = s[0]!.replace(/\{(\d+)\}/g, (_, i: string) => s[Number(i) + 1]!);
      else if (name === "replace") v = s[0]!.split(s[1]!).join(s[2]!);
      else if (name === "environment") v = AZURE_CLOUD;
      else if (name === "resourceId") v = `/subscriptions/${s[0]}/resourceGroups/${s[1]}/providers/${s[2]}/${s.slice(3).join("/")}`;
      else throw new Error(`armEval: no ${name}() in ${text}`);
    }
    while (src[pos] === ".") {
      const prop = /^\w+/.exec(src.slice(pos + 1))![0];
      pos += prop.length + 1;
      v = (v as Record<string, unknown>)[prop];
    }
    return v;
  };
  const result = expr();
  skip();
  expect(pos, `whole expression read: ${text}`).toBe(src.length);
  return result;
}

/** The scope (resource id) of a predicted role assignment, whose own id may still hold the principal's reference(). */
function assignmentScope(a: Predicted): string {
  const m = /^\[extensionResourceId\('([^']+)', 'Microsoft\.Authorization\/roleAssignments'/.exec(a.id);
  return m ? m[1]! : a.id.replace(/\/providers\/Microsoft\.Authorization\/roleAssignments\/[^/]+$/, "");
}

/** Runs `bicep snapshot` of main.bicep with these parameters (a .bicepparam beside the build output). */
async function snapshot(name: keyof typeof snapshots, params: Record<string, unknown>): Promise<void> {
  const file = join(outDir, `${name}.bicepparam`);
  const lines = [`using '${relative(outDir, mainBicep).split("\\").join("/")}'`];
  for (const [k, v] of Object.entries(params)) lines.push(`param ${k} = ${JSON.stringify(v).replaceAll('"', "'")}`);
  writeFileSync(file, lines.join("\n") + "\n");
  const r = await runAsync(
    bicep,
    ["snapshot", file, "--tenant-id", SNAPSHOT_SCOPE.tenant, "--subscription-id", SNAPSHOT_SCOPE.subscription,
      "--resource-group", SNAPSHOT_SCOPE.resourceGroup, "--location", SNAPSHOT_SCOPE.location],
    120_000,
  );
  snapshots[name].status = r.status;
  snapshots[name].stderr = r.stderr + r.stdout;
  if (r.status === 0) {
    const json = JSON.parse(readFileSync(join(outDir, `${name}.snapshot.json`), "utf8")) as { predictedResources: Predicted[] };
    snapshots[name].resources = json.predictedResources;
  }
}

function predicted(name: keyof typeof snapshots, type: string): Predicted[] {
  expect(snapshots[name].status, snapshots[name].stderr).toBe(0);
  return snapshots[name].resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
}
/**
 * The two storage accounts of a snapshot: the host's (AzureWebJobsStorage, with the deployment container) and the
 * app's data account (tables and queues).
 */
function accountsOf(name: keyof typeof snapshots): { host: Predicted; data: Predicted } {
  const accounts = predicted(name, "Microsoft.Storage/storageAccounts");
  expect(accounts, `two storage accounts in the ${name} snapshot`).toHaveLength(2);
  const container = onePredicted(name, "Microsoft.Storage/storageAccounts/blobServices/containers");
  const host = accounts.find((a) => container.id.startsWith(`${a.id}/`))!;
  const data = accounts.find((a) => a !== host)!;
  expect(host && data, "one account holds the deployment container, the other not").toBeTruthy();
  return { host, data };
}
function onePredicted(name: keyof typeof snapshots, type: string): Predicted {
  const found = predicted(name, type);
  expect(found, `exactly one ${type} in the ${name} snapshot`).toHaveLength(1);
  return found[0]!;
}

/** The status page's sign-in app registration and operators' group of the statusPage snapshot. */
const STATUS_PAGE = { clientId: "00000000-0000-0000-0000-0000000000dd", group: "00000000-0000-0000-0000-0000000000ee" };

beforeAll(async () => {
  // A cold cache restores the Bicep CLI from NuGet first.
  const located = await runAsync("bash", [join(root, "scripts/bicep.sh")], 240_000);
  expect(located.status, located.stderr).toBe(0);
  bicep = located.stdout.trim().split("\n").pop() ?? "";
  expect(bicep).not.toBe("");

  outDir = mkdtempSync(join(tmpdir(), "entra-sync-bicep-"));
  build = await runAsync(bicep, ["build", mainBicep, "--outdir", outDir], 120_000);
  lint = await runAsync(bicep, ["lint", mainBicep, "--diagnostics-format", "sarif"], 120_000);
  if (build.status === 0) {
    template = JSON.parse(readFileSync(join(outDir, "main.json"), "utf8")) as Json;
    walk(template, "", resources, outputs);
  }
  const required = { namePrefix: "entrasync", operatorEmail: "ops@platform.example", operatorPrincipalId: "00000000-0000-0000-0000-0000000000cc" };
  // Three snapshots of a few seconds each; on a loaded machine the whole setup has taken up to five minutes.
  await snapshot("open", required);
  await snapshot("isolated", { ...required, networkIsolation: true });
  await snapshot("statusPage", { ...required, statusPageClientId: STATUS_PAGE.clientId, operatorsGroupId: STATUS_PAGE.group });
  await snapshot("isolatedWithIps", { ...required, networkIsolation: true, allowedIpRanges: ["203.0.113.7", "198.51.100.0/24"], keyVaultNameSuffix: "r2" });
}, 600_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe("scripts/bicep.sh", () => {
  it("prints only the path of the CLI on a warm cache, quietly", () => {
    const again = run("bash", [join(root, "scripts/bicep.sh")], 60_000);
    expect(again.status).toBe(0);
    expect(again.stderr).toBe("");
    expect(again.stdout.trim()).toBe(bicep);
    expect(run(bicep, ["--version"], 60_000).stdout).toMatch(/Bicep CLI version \d+\.\d+\.\d+/);
  });
});

describe("infra/main.bicep compiles and lints clean", () => {
  it("builds with no error and no warning", () => {
    expect(build.status, build.stderr).toBe(0);
    expect(build.stderr.trim(), "bicep build diagnostics").toBe("");
  });

  it("lints with no diagnostic at any level (bicepconfig.json turns the rules on)", () => {
    expect(lint.status, lint.stderr + lint.stdout).toBe(0);
    const sarif = JSON.parse(lint.stdout) as { runs: { results: { ruleId?: string; message?: { text?: string } }[] }[] };
    const results = sarif.runs.flatMap((r) => r.results);
    expect(results.map((r) => `${r.ruleId}: ${r.message?.text}`)).toEqual([]);
    expect(lint.stderr.trim()).toBe("");
  });

  it("turns the API-version freshness and secret rules on", () => {
    const config = JSON.parse(readFileSync(join(root, "bicepconfig.json"), "utf8")) as {
      analyzers: { core: { rules: Record<string, { level: string }> } };
    };
    const rules = config.analyzers.core.rules;
    for (const rule of [
      "use-recent-api-versions",
      "use-secure-value-for-secure-inputs",
      "no-hardcoded-env-urls",
      "outputs-should-not-contain-secrets",
      "secure-secrets-in-params",
      "no-unnecessary-dependson",
    ]) {
      expect(["warning", "error"], rule).toContain(rules[rule]?.level);
    }
  });

  it("composes one nested deployment per concern and uses no registry module", () => {
    const modules = ofType("Microsoft.Resources/deployments").map((f) => String(f.resource.name));
    expect(modules.sort()).toEqual(["alerts", "dataStorage", "email", "functionapp", "identity", "keyvault", "monitoring", "network", "rbac", "statuspage", "storage"]);
    expect(readFileSync(mainBicep, "utf8")).not.toMatch(/br[/:]/);
  });
});

describe("storage", () => {
  it("has shared keys and public blob access off, TLS 1.2, HTTPS only (one module, used for both accounts)", () => {
    // The compiled template holds the module once per use.
    expect(ofType("Microsoft.Storage/storageAccounts")).toHaveLength(2);
    for (const { resource: sa } of ofType("Microsoft.Storage/storageAccounts")) {
      expect(sa.kind).toBe("StorageV2");
      const p = props(sa);
      expect(p.allowSharedKeyAccess).toBe(false);
      expect(p.allowBlobPublicAccess).toBe(false);
      expect(p.minimumTlsVersion).toBe("TLS1_2");
      expect(p.supportsHttpsTrafficOnly).toBe(true);
    }
    for (const a of Object.values(accountsOf("open"))) expect(a.properties).toMatchObject({ allowSharedKeyAccess: false, allowBlobPublicAccess: false, minimumTlsVersion: "TLS1_2" });
  });

  it("puts the app's tables and queues in an account of their own, apart from the host's (AzureWebJobsStorage) and its deployment container", () => {
    const { host, data } = accountsOf("open");
    expect(data.name).not.toBe(host.name);
    for (const t of predicted("open", "Microsoft.Storage/storageAccounts/tableServices/tables")) expect(t.id.startsWith(`${data.id}/`), t.id).toBe(true);
    for (const q of predicted("open", "Microsoft.Storage/storageAccounts/queueServices/queues")) expect(q.id.startsWith(`${data.id}/`), q.id).toBe(true);
    expect(predicted("open", "Microsoft.Storage/storageAccounts/tableServices/tables")).toHaveLength(Object.values(TABLES).length);
    expect(predicted("open", "Microsoft.Storage/storageAccounts/queueServices/queues")).toHaveLength(Object.values(QUEUES).length);
    // The app settings point the app (APP_STORAGE) at the data account and the host at its own.
    const site = ofType("Microsoft.Web/sites/config").find((f) => String(f.resource.name).includes("appsettings"))!.resource;
    const settings = props(site);
    expect(String(settings.APP_STORAGE__accountName)).toContain("dataStorageAccountName");
    expect(String(settings.APP_STORAGE__queueServiceUri)).toContain("dataQueueEndpoint");
    expect(String(settings.APP_STORAGE__tableServiceUri)).toContain("dataTableEndpoint");
    expect(settings.APP_STORAGE__credential).toBe("managedidentity");
    expect(String(settings.AzureWebJobsStorage__accountName)).toContain("parameters('storageAccountName')");
    const fn = ofType("Microsoft.Resources/deployments").find((f) => f.resource.name === "functionapp")!.resource;
    const fnParams = props(fn).parameters as Record<string, { value: unknown }>;
    expect(String(fnParams.dataStorageAccountName?.value)).toContain("dataStorage");
    expect(String(fnParams.storageAccountName?.value)).toContain("'storage'");
  });

  it("creates exactly the tables and queues of src/state/tables.ts and a private deployment container", () => {
    const storage = ofType("Microsoft.Resources/deployments").find((f) => f.resource.name === "dataStorage")!.resource;
    const params = props(storage).parameters as Record<string, { value: unknown }>;
    const mainVars = template.variables as Json;
    const resolveVar = (v: unknown) => {
      const m = /^\[variables\('(\w+)'\)\]$/.exec(String(v));
      return m ? mainVars[m[1]!] : v;
    };
    expect([...(resolveVar(params.tableNames?.value) as string[])].sort()).toEqual(Object.values(TABLES).sort());
    expect([...(resolveVar(params.queueNames?.value) as string[])].sort()).toEqual(Object.values(QUEUES).sort());
    expect(ofType("Microsoft.Storage/storageAccounts/tableServices/tables")[0]!.resource.copy).toBeDefined();
    expect(ofType("Microsoft.Storage/storageAccounts/queueServices/queues")[0]!.resource.copy).toBeDefined();
    for (const { resource } of ofType("Microsoft.Storage/storageAccounts/blobServices/containers")) expect(props(resource).publicAccess).toBe("None");
  });
});

describe("key vault", () => {
  it("uses RBAC, soft delete (90 days) and purge protection", () => {
    const kv = one("Microsoft.KeyVault/vaults");
    const p = props(kv);
    expect(p.enableRbacAuthorization).toBe(true);
    expect(p.enableSoftDelete).toBe(true);
    expect(p.enablePurgeProtection).toBe(true);
    expect(p.accessPolicies ?? []).toEqual([]);
    const kvModule = ofType("Microsoft.Resources/deployments").find((f) => f.resource.name === "keyvault")!.resource;
    const kvParams = (props(kvModule).template as Json).parameters as Record<string, { defaultValue?: unknown }>;
    expect(p.softDeleteRetentionInDays).toBe("[parameters('softDeleteRetentionInDays')]");
    expect(kvParams.softDeleteRetentionInDays?.defaultValue).toBe(90);
  });
});

describe("monitoring", () => {
  it("is workspace-based Application Insights with local auth off", () => {
    const appi = props(one("Microsoft.Insights/components"));
    expect(appi.DisableLocalAuth).toBe(true);
    expect(String(appi.WorkspaceResourceId)).toContain("Microsoft.OperationalInsights/workspaces");
  });
});

describe("e-mail", () => {
  it("links an Azure-managed domain to the Communication Service", () => {
    const domain = one("Microsoft.Communication/emailServices/domains");
    expect(String(domain.name)).toContain("AzureManagedDomain");
    expect(props(domain).domainManagement).toBe("AzureManaged");
    one("Microsoft.Communication/emailServices/domains/senderUsernames");
    const acs = props(one("Microsoft.Communication/communicationServices"));
    expect(JSON.stringify(acs.linkedDomains)).toContain("Microsoft.Communication/emailServices/domains");
  });

  it("has local (access key) auth off on the Communication Service: only an Entra token sends", () => {
    expect(props(one("Microsoft.Communication/communicationServices")).disableLocalAuth).toBe(true);
    expect(onePredicted("open", "Microsoft.Communication/communicationServices").properties?.disableLocalAuth).toBe(true);
  });
});

describe("function app", () => {
  it("runs on Flex Consumption with Node 22 and identity-based deployment storage", () => {
    const plan = one("Microsoft.Web/serverfarms");
    expect(plan.sku).toEqual({ name: "FC1", tier: "FlexConsumption" });
    const cfg = props(one("Microsoft.Web/sites")).functionAppConfig as Json;
    expect(cfg.runtime).toEqual({ name: "node", version: "22" });
    const storage = (cfg.deployment as Json).storage as Json;
    expect(storage.type).toBe("blobContainer");
    expect(storage.authentication).toEqual({ type: "SystemAssignedIdentity" });
    const scale = cfg.scaleAndConcurrency as Json;
    expect(scale.maximumInstanceCount).toBeDefined();
    expect(scale.instanceMemoryMB).toBeDefined();
  });

  it("is HTTPS only, TLS 1.2, FTPS disabled, no remote debugging, system-assigned identity (and the federation's user-assigned one)", () => {
    const site = one("Microsoft.Web/sites");
    expect(site.identity).toEqual({ type: "SystemAssigned, UserAssigned", userAssignedIdentities: { "[format('{0}', parameters('federationIdentityId'))]": {} } });
    const p = props(site);
    expect(p.httpsOnly).toBe(true);
    const sc = p.siteConfig as Json;
    expect(sc.minTlsVersion).toBe("1.2");
    expect(sc.ftpsState).toBe("Disabled");
    expect(sc.remoteDebuggingEnabled).toBe(false);
  });

  it("turns basic publishing credentials off for FTP and SCM", () => {
    const policies = ofType("Microsoft.Web/sites/basicPublishingCredentialsPolicies").map((f) => f.resource);
    expect(policies.map((r) => String(r.name).match(/'(ftp|scm)'/)?.[1]).sort()).toEqual(["ftp", "scm"]);
    for (const r of policies) expect(props(r).allow).toBe(false);
  });

  it("keeps the function timeout of host.json within what Flex allows", () => {
    const host = JSON.parse(readFileSync(join(root, "host.json"), "utf8")) as { functionTimeout: string };
    expect(host.functionTimeout).toBe("00:30:00");
    const mainParams = template.parameters as Record<string, { defaultValue?: number; maxValue?: number }>;
    expect(mainParams.runTimeBudgetSeconds?.defaultValue).toBe(480);
    expect(mainParams.runTimeBudgetSeconds?.maxValue).toBeLessThan(30 * 60);
  });
});

describe("app settings", () => {
  function appSettings(): Record<string, unknown> {
    const configs = ofType("Microsoft.Web/sites/config").filter((f) => String(f.resource.name).includes("'appsettings'"));
    expect(configs).toHaveLength(1);
    const siteConfig = props(one("Microsoft.Web/sites")).siteConfig as Json;
    expect(siteConfig.appSettings, "settings live in the one sites/config resource").toBeUndefined();
    return props(configs[0]!.resource);
  }

  it("sorts every name of APP_SETTINGS into Azure or local-only, once", () => {
    const all = [...AZURE_SETTINGS, ...LOCAL_ONLY_SETTINGS];
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(Object.keys(APP_SETTINGS).sort());
  });

  it("are exactly the Azure settings of APP_SETTINGS plus the host's own", () => {
    const names = Object.keys(appSettings()).sort();
    expect(names).toEqual([...AZURE_SETTINGS, ...HOST_SETTINGS].sort());
    for (const n of [...LOCAL_ONLY_SETTINGS, ...NOT_ON_FLEX]) expect(names).not.toContain(n);
  });

  it("hold names, URLs and schedules: no key, secret, password or credential-bearing connection string", () => {
    const settings = appSettings();
    for (const [name, value] of Object.entries(settings)) {
      const v = String(value);
      if (name === "STATUS_PAGE_KEY") {
        // Not the key: a reference the platform resolves from Key Vault with the app's identity (or empty).
        expect(v).toMatch(/^\[if\(empty\(parameters\('statusPageKeyReference'\)\)|^\[parameters\('statusPageKeyReference'\)\]$/);
        continue;
      }
      if (name !== "APPLICATIONINSIGHTS_CONNECTION_STRING") {
        expect(name).not.toMatch(/(_|^)(KEY|SECRET|PASSWORD|PWD|SAS|TOKEN)$|connection_?string|^AzureWebJobsStorage$/i);
      }
      expect(v, name).not.toMatch(/AccountKey=|SharedAccessSignature=|SharedAccessKey=|[?&]sig=|password|list\w*\(/i);
    }
    expect(settings.AzureWebJobsStorage__credential).toBe("managedidentity");
    expect(settings.PLATFORM_CREDENTIAL).toBe("managed-identity");
    expect(settings.MAIL_TRANSPORT).toBe("acs");
    expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe("Authorization=AAD");
    expect(String(settings.APPLICATIONINSIGHTS_CONNECTION_STRING)).toMatch(/^\[reference\(resourceId\('Microsoft\.Insights\/components'.*\.ConnectionString\]$/);
  });

  it("give the Node worker the V8 options the memory bench runs with (infra/node-arguments.json)", () => {
    const file = JSON.parse(readFileSync(join(root, "infra/node-arguments.json"), "utf8")) as { languageWorkersNodeArguments: string };
    expect(appSettings()).toHaveProperty("languageWorkers__node__arguments");
    // As deployed (variables resolved): the settings resource of the predicted deployment.
    const config = predicted("open", "Microsoft.Web/sites/config").find((r) => r.id.endsWith("/config/appsettings"));
    const args = String(config?.properties?.languageWorkers__node__arguments);
    expect(args).toBe(file.languageWorkersNodeArguments);
    // A heap cap and a small young generation; the cap leaves the host's batch of concurrent runs room on an instance.
    const oldSpace = Number(/--max-old-space-size=(\d+)\b/.exec(args)?.[1]);
    const semiSpace = Number(/--max-semi-space-size=(\d+)\b/.exec(args)?.[1]);
    expect(oldSpace).toBeGreaterThanOrEqual(256);
    expect(semiSpace).toBeGreaterThan(0);
    const memory = (template.parameters as Record<string, { defaultValue?: number; allowedValues?: number[] }>).instanceMemoryMB;
    expect(oldSpace * 2).toBeLessThanOrEqual(memory?.defaultValue ?? 0);
  });

  it("default to the schedules and thresholds of src/config/settings.ts", () => {
    const p = template.parameters as Record<string, { defaultValue?: unknown }>;
    expect(p.syncSchedule?.defaultValue).toBe("0 */5 * * * *");
    expect(p.expiryCheckSchedule?.defaultValue).toBe("0 0 6 * * *");
    expect(p.alertThresholdsDays?.defaultValue).toBe("60,30,14,7,3,1,0");
  });
});

describe("federated tenants", () => {
  it("creates one user-assigned identity (the only kind Microsoft supports behind an app's federated credential) and assigns it to the app", () => {
    const ids = predicted("open", "Microsoft.ManagedIdentity/userAssignedIdentities");
    expect(ids).toHaveLength(1);
    const site = onePredicted("open", "Microsoft.Web/sites");
    expect(Object.keys((site as unknown as { identity: { userAssignedIdentities: Json } }).identity.userAssignedIdentities).map((k) => k.toLowerCase())).toEqual([
      `${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${ids[0]!.name}`.toLowerCase(),
    ]);
  });

  it("sets MANAGED_IDENTITY_CLIENT_ID only together with FEDERATED_APP_CLIENT_ID (the app refuses one alone)", () => {
    const config = ofType("Microsoft.Web/sites/config").find((f) => String(f.resource.name).includes("'appsettings'"))!;
    const p = props(config.resource);
    expect(p.FEDERATED_APP_CLIENT_ID).toBe("[parameters('federatedAppClientId')]");
    expect(p.MANAGED_IDENTITY_CLIENT_ID).toBe("[if(empty(parameters('federatedAppClientId')), '', parameters('federationIdentityClientId'))]");
    expect((template.parameters as Record<string, Json>).federatedAppClientId?.defaultValue).toBe("");
  });

  it("gives the identity no Azure role: it is a credential of the platform's app only", () => {
    const principals = new Set(ofType("Microsoft.Authorization/roleAssignments").map((f) => String(props(f.resource).principalId)));
    expect([...principals].sort()).toEqual(["[parameters('appPrincipalId')]", "[parameters('operatorPrincipalId')]"]);
    const rbac = ofType("Microsoft.Resources/deployments").find((f) => f.resource.name === "rbac")!;
    expect(JSON.stringify((props(rbac.resource).parameters as Json).appPrincipalId)).toMatch(/reference\('functionApp'\)\.outputs\.principalId/);
  });

  it("outputs the federated credential's issuer, subject and the cloud's audience for the one-time setup", () => {
    const main = template.outputs as Record<string, Json>;
    expect(String(main.FEDERATION_ISSUER?.value)).toBe("[format('{0}{1}/v2.0', environment().authentication.loginEndpoint, tenant().tenantId)]");
    expect(String(main.FEDERATION_SUBJECT?.value)).toContain("principalId");
    expect(String(main.FEDERATION_AUDIENCE?.value)).toContain("environment().name");
    expect(template.variables).toMatchObject({
      tokenExchangeAudiences: { AzureCloud: "api://AzureADTokenExchange", AzureUSGovernment: "api://AzureADTokenExchangeUSGov", AzureChinaCloud: "api://AzureADTokenExchangeChina" },
    });
  });
});

describe("role assignments", () => {
  interface Assignment {
    role: string;
    scopeType: string;
    principal: string;
    principalType: string;
    conditional: boolean;
    name: string;
  }

  function assignments(): Assignment[] {
    return ofType("Microsoft.Authorization/roleAssignments").map(({ resource, variables }) => {
      const p = props(resource);
      const roleExpr = String(p.roleDefinitionId);
      const custom = /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', guid\(resourceGroup\(\)\.id, 'entra-sync-mail-sender'\)\)\]$/;
      const m = /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', variables\('roles'\)\.(\w+)\)\]$/.exec(roleExpr);
      expect(m !== null || custom.test(roleExpr), `role from the roles map or the mail sender role: ${roleExpr}`).toBe(true);
      const role = m ? String((variables.roles as Record<string, string>)[m[1]!]) : MAIL_SENDER;
      const scope = resource.scope === undefined ? "" : String(resource.scope);
      const scopeType = /resourceId\('([^']+)'/.exec(scope)?.[1] ?? "resourceGroup";
      return {
        role,
        scopeType,
        principal: String(p.principalId),
        principalType: String(p.principalType),
        conditional: resource.condition !== undefined,
        name: String(resource.name),
      };
    });
  }

  it("keeps the role map to the well-known built-in ids", () => {
    const rbac = ofType("Microsoft.Authorization/roleAssignments")[0]!.variables.roles;
    expect(rbac).toEqual(ROLE);
  });

  it("grants the app exactly what it uses, each on its one resource", () => {
    const app = assignments().filter((a) => a.principal === "[parameters('appPrincipalId')]");
    const got = app.map((a) => `${a.role}@${a.scopeType}`).sort();
    expect(got).toEqual(
      [
        `${ROLE.storageBlobDataOwner}@Microsoft.Storage/storageAccounts`,
        `${ROLE.storageQueueDataContributor}@Microsoft.Storage/storageAccounts`,
        `${ROLE.storageTableDataContributor}@Microsoft.Storage/storageAccounts`,
        `${ROLE.keyVaultSecretsUser}@Microsoft.KeyVault/vaults`,
        `${ROLE.monitoringMetricsPublisher}@Microsoft.Insights/components`,
        `${MAIL_SENDER}@Microsoft.Communication/communicationServices`,
      ].sort(),
    );
    for (const a of app) {
      expect(a.principalType).toBe("ServicePrincipal");
      expect(a.conditional).toBe(false);
    }
  });

  it("grants an operator secrets officer, table and queue access only when operatorPrincipalId is set", () => {
    const op = assignments().filter((a) => a.principal === "[parameters('operatorPrincipalId')]");
    expect(op.map((a) => `${a.role}@${a.scopeType}`).sort()).toEqual(
      [
        `${ROLE.keyVaultSecretsOfficer}@Microsoft.KeyVault/vaults`,
        `${ROLE.storageTableDataContributor}@Microsoft.Storage/storageAccounts`,
        `${ROLE.storageQueueDataContributor}@Microsoft.Storage/storageAccounts`,
      ].sort(),
    );
    for (const a of op) {
      expect(a.conditional).toBe(true);
      expect(a.principalType).toBe("[parameters('operatorPrincipalType')]");
    }
  });

  it("assigns Communication and Email Service Owner to no one", () => {
    expect(assignments().map((a) => a.role)).not.toContain(COMMUNICATION_AND_EMAIL_SERVICE_OWNER);
    expect(JSON.stringify(template)).not.toContain(COMMUNICATION_AND_EMAIL_SERVICE_OWNER);
  });

  it("defines the mail sender role with exactly the send actions, assignable in the resource group only", () => {
    const role = onePredicted("open", "Microsoft.Authorization/roleDefinitions");
    const p = role.properties!;
    expect(p.type).toBe("CustomRole");
    expect(p.assignableScopes).toEqual([rgId]);
    expect(p.permissions).toEqual([{ actions: MAIL_SEND_ACTIONS, notActions: [], dataActions: [], notDataActions: [] }]);
    // Custom role names are unique per tenant: one per resource group, so two deployments never collide.
    expect(String(p.roleName)).toMatch(/^entra-sync mail sender \([a-z0-9]{13}\)$/);

    const sends = predicted("open", "Microsoft.Authorization/roleAssignments").filter((a) =>
      String(a.properties?.roleDefinitionId).endsWith(`/roleDefinitions/${role.name}`),
    );
    expect(sends, "assigned once").toHaveLength(1);
    expect(sends[0]!.properties?.roleDefinitionId).toBe(
      `/subscriptions/${SNAPSHOT_SCOPE.subscription}/providers/Microsoft.Authorization/roleDefinitions/${role.name}`,
    );
    const acs = onePredicted("open", "Microsoft.Communication/communicationServices");
    expect(assignmentScope(sends[0]!)).toBe(acs.id);
    expect(String(sends[0]!.properties?.principalId)).toContain("identity.principalId");
  });

  it("gives table and queue data roles on the data account only, never on the host's", () => {
    const { host, data } = accountsOf("open");
    for (const role of [ROLE.storageTableDataContributor, ROLE.storageQueueDataContributor]) {
      const got = predicted("open", "Microsoft.Authorization/roleAssignments").filter((a) => String(a.properties?.roleDefinitionId).endsWith(`/roleDefinitions/${role}`));
      expect(got.length, role).toBeGreaterThan(0);
      for (const a of got) expect(assignmentScope(a), role).toBe(data.id);
      for (const a of got) expect(assignmentScope(a), role).not.toBe(host.id);
    }
  });

  it("gives Storage Blob Data Owner to the app alone, on the account of the host storage and the deployment container", () => {
    const owners = predicted("open", "Microsoft.Authorization/roleAssignments").filter((a) =>
      String(a.properties?.roleDefinitionId).endsWith(`/roleDefinitions/${ROLE.storageBlobDataOwner}`),
    );
    expect(owners).toHaveLength(1);
    const account = accountsOf("open").host;
    // Scoped to the account itself, nothing above it: the host creates its own containers there.
    expect(assignmentScope(owners[0]!)).toBe(account.id);
    expect(String(owners[0]!.properties?.principalId)).toContain("Microsoft.Web/sites");
    const container = onePredicted("open", "Microsoft.Storage/storageAccounts/blobServices/containers");
    expect(container.id.startsWith(`${account.id}/blobServices/default/containers/app-package-`)).toBe(true);
    // No other blob data role for anyone (Contributor, Reader, Delegator).
    const blobRoles = ["ba92f5b4-2d11-453d-a403-e96b0029c9fe", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "db58b8e5-c6ad-4a2a-8342-4190687cbf4a"];
    for (const a of predicted("open", "Microsoft.Authorization/roleAssignments")) {
      for (const id of blobRoles) expect(String(a.properties?.roleDefinitionId)).not.toContain(id);
    }
  });

  it("assigns nothing broader: no resource-group scope, no Owner, Contributor or access administrator", () => {
    const all = assignments();
    expect(all).toHaveLength(9);
    for (const a of all) {
      expect(a.scopeType).not.toBe("resourceGroup");
      expect(Object.values(BROAD_ROLES)).not.toContain(a.role);
      // guid(scope.id, principal, role): stable across redeploys, distinct per principal.
      expect(a.name).toMatch(/^\[guid\(resourceId\('[^']+', parameters\('\w+'\)\), parameters\('(app|operator)PrincipalId'\), (variables\('roles'\)\.\w+|guid\(resourceGroup\(\)\.id, 'entra-sync-mail-sender'\))\)\]$/);
    }
  });
});

describe("status page access", () => {
  const auth = (name: keyof typeof snapshots) => predicted(name, "Microsoft.Web/sites/config").filter((r) => r.name.endsWith("/authsettingsV2"));

  it("is closed without a sign-in app registration: no App Service Authentication, no key, and the app still says appservice", () => {
    expect(auth("open")).toEqual([]);
    expect(predicted("open", "Microsoft.KeyVault/vaults/secrets")).toEqual([]);
    const settings = predicted("open", "Microsoft.Web/sites/config").find((r) => r.name.endsWith("/appsettings"))!.properties!;
    expect(settings.STATUS_PAGE_AUTH).toBe("appservice");
    expect(settings.STATUS_PAGE_KEY).toBe("");
  });

  it("with one, App Service Authentication (Entra ID) admits only the operators' group, and lets the API's own gates be", () => {
    const [a] = auth("statusPage");
    expect(a, "one authsettingsV2").toBeDefined();
    const p = a!.properties!;
    expect(p.platform).toMatchObject({ enabled: true });
    // Unauthenticated requests reach the app: the run API (function keys) and SCIM (Secret Tokens) keep their gates,
    // and the status page itself refuses anyone without the signed-in principal.
    expect(p.globalValidation).toMatchObject({ requireAuthentication: false, unauthenticatedClientAction: "AllowAnonymous" });
    const aad = (p.identityProviders as Json).azureActiveDirectory as Json;
    expect(aad.enabled).toBe(true);
    expect((aad.registration as Json).clientId).toBe(STATUS_PAGE.clientId);
    // environment().authentication.loginEndpoint, then the tenant: Entra's v2.0 issuer of the deployment's tenant.
    expect(String((aad.registration as Json).openIdIssuer)).toMatch(new RegExp(`loginEndpoint, '${SNAPSHOT_SCOPE.tenant}'\\)\\]$`));
    expect(String((aad.registration as Json).openIdIssuer)).toContain("/v2.0");
    expect((aad.registration as Json).clientSecretSettingName, "no client secret in the app's settings").toBeUndefined();
    expect(((aad.validation as Json).defaultAuthorizationPolicy as Json).allowedPrincipals).toEqual({ groups: [STATUS_PAGE.group] });
    expect((p.httpSettings as Json).requireHttps).toBe(true);
  });

  it("keeps the page's key in Key Vault and gives the app a reference to it, with the operators' group", () => {
    const secret = onePredicted("statusPage", "Microsoft.KeyVault/vaults/secrets");
    expect(secret.name).toMatch(/\/status-page-key$/);
    const settings = predicted("statusPage", "Microsoft.Web/sites/config").find((r) => r.name.endsWith("/appsettings"))!.properties!;
    expect(settings.STATUS_PAGE_AUTH).toBe("appservice");
    expect(settings.STATUS_PAGE_OPERATORS_GROUP).toBe(STATUS_PAGE.group);
    expect(String(settings.STATUS_PAGE_KEY)).toMatch(/^@Microsoft\.KeyVault\(VaultName=[a-z0-9]+;SecretName=status-page-key\)$/);
    const p = template.parameters as Record<string, Json>;
    expect(p.statusPageKey?.type).toBe("securestring");
  });
});

describe("network isolation", () => {
  const acl = (r: Predicted) => r.properties?.networkAcls as Json;

  it("is off by default: the first deploy keeps public endpoints (Entra auth only) and creates no network", () => {
    const p = template.parameters as Record<string, { defaultValue?: unknown }>;
    expect(p.networkIsolation?.defaultValue).toBe(false);
    const open = snapshots.open.resources;
    expect(snapshots.open.status, snapshots.open.stderr).toBe(0);
    expect(open.filter((r) => r.type.startsWith("Microsoft.Network/"))).toEqual([]);
    expect(onePredicted("open", "Microsoft.Web/sites").properties?.virtualNetworkSubnetId ?? null).toBeNull();
    for (const a of Object.values(accountsOf("open"))) expect(a.properties?.publicNetworkAccess).toBe("Enabled");
  });

  it("when on, storage and vault refuse public traffic: access disabled, default deny, no trusted-service bypass", () => {
    const { host, data } = accountsOf("isolated");
    for (const [type, r] of [["host storage", host], ["data storage", data], ["vault", onePredicted("isolated", "Microsoft.KeyVault/vaults")]] as const) {
      expect(r.properties?.publicNetworkAccess, type).toBe("Disabled");
      expect(acl(r), type).toMatchObject({ defaultAction: "Deny", bypass: "None", ipRules: [], virtualNetworkRules: [] });
    }
  });

  it("when on, creates a private endpoint for blob, queue, table (both accounts) and the vault, each in its privatelink DNS zone", () => {
    const { host: account, data } = accountsOf("isolated");
    const vault = onePredicted("isolated", "Microsoft.KeyVault/vaults");
    const vnet = onePredicted("isolated", "Microsoft.Network/virtualNetworks");
    const endpointSubnet = `${vnet.id}/subnets/private-endpoints`;
    const targets: Record<string, string> = { blob: account.id, queue: account.id, table: account.id, vault: vault.id, "data-queue": data.id, "data-table": data.id };

    const endpoints = predicted("isolated", "Microsoft.Network/privateEndpoints");
    const zones = predicted("isolated", "Microsoft.Network/privateDnsZones").map((z) => String(armEval(z.name)));
    expect(zones.sort()).toEqual(Object.values(PRIVATE_DNS_ZONES).sort());
    const links = predicted("isolated", "Microsoft.Network/privateDnsZones/virtualNetworkLinks");
    const groups = predicted("isolated", "Microsoft.Network/privateEndpoints/privateDnsZoneGroups");

    const seen: string[] = [];
    for (const pe of endpoints) {
      const connections = pe.properties?.privateLinkServiceConnections as { properties: { privateLinkServiceId: string; groupIds: string[] } }[];
      expect(connections).toHaveLength(1);
      const { privateLinkServiceId, groupIds } = connections[0]!.properties;
      expect(groupIds).toHaveLength(1);
      const group = groupIds[0]!;
      const key = privateLinkServiceId === data.id ? `data-${group}` : group;
      seen.push(key);
      expect(privateLinkServiceId, key).toBe(targets[key]);
      expect((pe.properties?.subnet as Json).id, group).toBe(endpointSubnet);

      const zoneGroup = groups.filter((g) => g.id.startsWith(`${pe.id}/privateDnsZoneGroups/`));
      expect(zoneGroup, `${group} has one DNS zone group`).toHaveLength(1);
      const configs = zoneGroup[0]!.properties?.privateDnsZoneConfigs as { properties: { privateDnsZoneId: string } }[];
      expect(configs.map((c) => armEval(c.properties.privateDnsZoneId))).toEqual([
        `${rgId}/providers/Microsoft.Network/privateDnsZones/${PRIVATE_DNS_ZONES[group]}`,
      ]);
    }
    expect(seen.sort()).toEqual(["blob", "data-queue", "data-table", "queue", "table", "vault"]);

    // Every zone is linked to the network (so names resolve to the endpoints inside it), without auto-registration.
    expect(links.map((l) => String(armEval(l.name)).split("/")[0]).sort()).toEqual(Object.values(PRIVATE_DNS_ZONES).sort());
    for (const l of links) expect(l.properties).toMatchObject({ registrationEnabled: false, virtualNetwork: { id: vnet.id } });
  });

  it("when on, integrates the app with a subnet delegated to Microsoft.App/environments, apart from the endpoints", () => {
    const vnet = onePredicted("isolated", "Microsoft.Network/virtualNetworks");
    const subnets = vnet.properties?.subnets as { name: string; properties: Json }[];
    const app = subnets.find((s) => s.name === "app")!;
    const pes = subnets.find((s) => s.name === "private-endpoints")!;
    expect(app.properties.delegations).toEqual([{ name: "flex-consumption", properties: { serviceName: "Microsoft.App/environments" } }]);
    expect(pes.properties.delegations ?? []).toEqual([]);
    expect(app.properties.addressPrefix).not.toBe(pes.properties.addressPrefix);
    expect(onePredicted("isolated", "Microsoft.Web/sites").properties?.virtualNetworkSubnetId).toBe(`${vnet.id}/subnets/app`);
  });

  it("with allowedIpRanges, keeps the public endpoint for those ranges only (default still deny)", () => {
    for (const account of Object.values(accountsOf("isolatedWithIps"))) {
    expect(account.properties?.publicNetworkAccess).toBe("Enabled");
    expect(acl(account)).toMatchObject({
      defaultAction: "Deny",
      bypass: "None",
      ipRules: [
        { value: "203.0.113.7", action: "Allow" },
        { value: "198.51.100.0/24", action: "Allow" },
      ],
    });
    }
    const vault = onePredicted("isolatedWithIps", "Microsoft.KeyVault/vaults");
    expect(vault.properties?.publicNetworkAccess).toBe("Enabled");
    expect(acl(vault)).toMatchObject({ defaultAction: "Deny", bypass: "None", ipRules: [{ value: "203.0.113.7" }, { value: "198.51.100.0/24" }] });
  });
});

describe("redeploying after removal", () => {
  it("keeps the vault's name without a suffix and gives it a new one with keyVaultNameSuffix", () => {
    const plain = onePredicted("open", "Microsoft.KeyVault/vaults").name;
    const suffixed = onePredicted("isolatedWithIps", "Microsoft.KeyVault/vaults").name;
    expect(plain).toMatch(/^entrasynckv[a-z0-9]{13}$/);
    expect(suffixed).toHaveLength(24);
    expect(suffixed).toBe(`${plain.slice(0, 22)}r2`);
    const p = template.parameters as Record<string, { defaultValue?: unknown; maxLength?: number }>;
    expect(p.keyVaultNameSuffix).toMatchObject({ defaultValue: "", maxLength: 4 });
  });
});

describe("parameters and outputs", () => {
  it("describes and constrains every parameter of main.bicep", () => {
    const params = template.parameters as Record<string, Json>;
    for (const [name, p] of Object.entries(params)) {
      expect((p.metadata as Json | undefined)?.description, `${name} has @description`).toBeTruthy();
    }
    expect(params.namePrefix).toMatchObject({ minLength: 3, maxLength: 11 });
    expect(params.operatorPrincipalType?.allowedValues).toEqual(["User", "Group", "ServicePrincipal"]);
    expect(params.location?.defaultValue).toBe("[resourceGroup().location]");
  });

  it("outputs names and URLs only: no secure output, no list*() anywhere in outputs", () => {
    const main = template.outputs as Record<string, Json>;
    expect(Object.keys(main).sort()).toEqual(
      [
        "ACS_EMAIL_ENDPOINT",
        "AZURE_FUNCTION_APP_NAME",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "APP_STORAGE_ACCOUNT_NAME",
        "FUNCTION_APP_PRINCIPAL_ID",
        "FUNCTION_APP_URL",
        "KEY_VAULT_URL",
        "MAIL_FROM",
        "FEDERATION_ISSUER",
        "FEDERATION_SUBJECT",
        "FEDERATION_AUDIENCE",
        "MANAGED_IDENTITY_CLIENT_ID",
      ].sort(),
    );
    expect(String(main.FUNCTION_APP_URL?.value)).toMatch(/^\[format\('https:\/\/\{0\}'/);
    for (const o of outputs) {
      for (const [name, out] of Object.entries(o as Record<string, Json>)) {
        expect((out.metadata as Json | undefined)?.description, `${name} has @description`).toBeTruthy();
        expect(String(out.type).toLowerCase(), name).not.toMatch(/^secure/);
        expect(JSON.stringify(out.value), name).not.toMatch(/list\w*\(|ConnectionString|InstrumentationKey/i);
      }
    }
  });

  it("main.parameters.json sets only parameters that exist, and every required one", () => {
    const file = JSON.parse(readFileSync(join(root, "infra/main.parameters.json"), "utf8")) as { parameters: Json };
    const params = template.parameters as Record<string, Json>;
    for (const name of Object.keys(file.parameters)) expect(Object.keys(params)).toContain(name);
    const required = Object.entries(params).filter(([, p]) => !("defaultValue" in p)).map(([n]) => n);
    for (const name of required) expect(Object.keys(file.parameters)).toContain(name);
  });
});
