/**
 * Compiles and lints infra/main.bicep with the pinned Bicep CLI (scripts/bicep.sh) and checks the ARM JSON it
 * produces: hardening flags, the exact role assignments, and app settings that match APP_SETTINGS. No Azure is
 * reachable from the build machines, so this is what stands in for a deployment.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
];
/** Settings of APP_SETTINGS for the local stack only: a key-based connection string, a secret, simulator hosts. */
const LOCAL_ONLY_SETTINGS: readonly AppSettingName[] = [
  "AzureWebJobsStorage",
  "PLATFORM_TENANT_ID",
  "PLATFORM_CLIENT_ID",
  "PLATFORM_CLIENT_SECRET",
  "ENTRA_AUTHORITY_HOST",
  "GRAPH_BASE_URL",
  "SMTP_URL",
  "MAIL_OUTBOX_DIR",
  "KEY_VAULT_LOCAL_STACK",
];
/**
 * The Functions host's own settings. The connection string holds the instrumentation key, an identifier and not a
 * credential: App Insights has local auth off, so telemetry is accepted only with the identity's Entra token.
 */
const HOST_SETTINGS = ["APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"];
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
  communicationAndEmailServiceOwner: "09976791-48a7-449e-bb21-39d1a415f350",
} as const;
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

beforeAll(() => {
  // A cold cache restores the Bicep CLI from NuGet first.
  const located = run("bash", [join(root, "scripts/bicep.sh")], 240_000);
  expect(located.status, located.stderr).toBe(0);
  bicep = located.stdout.trim().split("\n").pop() ?? "";
  expect(bicep).not.toBe("");

  outDir = mkdtempSync(join(tmpdir(), "entra-sync-bicep-"));
  build = run(bicep, ["build", mainBicep, "--outdir", outDir], 120_000);
  lint = run(bicep, ["lint", mainBicep, "--diagnostics-format", "sarif"], 120_000);
  if (build.status === 0) {
    template = JSON.parse(readFileSync(join(outDir, "main.json"), "utf8")) as Json;
    walk(template, "", resources, outputs);
  }
}, 300_000);

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
    expect(modules.sort()).toEqual(["email", "functionapp", "keyvault", "monitoring", "rbac", "storage"]);
    expect(readFileSync(mainBicep, "utf8")).not.toMatch(/br[/:]/);
  });
});

describe("storage", () => {
  it("has shared keys and public blob access off, TLS 1.2, HTTPS only", () => {
    const sa = one("Microsoft.Storage/storageAccounts");
    expect(sa.kind).toBe("StorageV2");
    const p = props(sa);
    expect(p.allowSharedKeyAccess).toBe(false);
    expect(p.allowBlobPublicAccess).toBe(false);
    expect(p.minimumTlsVersion).toBe("TLS1_2");
    expect(p.supportsHttpsTrafficOnly).toBe(true);
  });

  it("creates exactly the tables and queues of src/state/tables.ts and a private deployment container", () => {
    const storage = ofType("Microsoft.Resources/deployments").find((f) => f.resource.name === "storage")!.resource;
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
    expect(props(one("Microsoft.Storage/storageAccounts/blobServices/containers")).publicAccess).toBe("None");
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

  it("is HTTPS only, TLS 1.2, FTPS disabled, no remote debugging, system-assigned identity", () => {
    const site = one("Microsoft.Web/sites");
    expect(site.identity).toEqual({ type: "SystemAssigned" });
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

  it("default to the schedules and thresholds of src/config/settings.ts", () => {
    const p = template.parameters as Record<string, { defaultValue?: unknown }>;
    expect(p.syncSchedule?.defaultValue).toBe("0 */5 * * * *");
    expect(p.expiryCheckSchedule?.defaultValue).toBe("0 0 6 * * *");
    expect(p.alertThresholdsDays?.defaultValue).toBe("60,30,14,7,3,1,0");
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
      const m = /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', variables\('roles'\)\.(\w+)\)\]$/.exec(roleExpr);
      expect(m, `role from the roles map: ${roleExpr}`).not.toBeNull();
      const role = String((variables.roles as Record<string, string>)[m![1]!]);
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
        `${ROLE.communicationAndEmailServiceOwner}@Microsoft.Communication/communicationServices`,
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

  it("assigns nothing broader: no resource-group scope, no Owner, Contributor or access administrator", () => {
    const all = assignments();
    expect(all).toHaveLength(9);
    for (const a of all) {
      expect(a.scopeType).not.toBe("resourceGroup");
      expect(Object.values(BROAD_ROLES)).not.toContain(a.role);
      // guid(scope.id, principal, role): stable across redeploys, distinct per principal.
      expect(a.name).toMatch(/^\[guid\(resourceId\('[^']+', parameters\('\w+'\)\), parameters\('(app|operator)PrincipalId'\), variables\('roles'\)\.\w+\)\]$/);
    }
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
        "FUNCTION_APP_PRINCIPAL_ID",
        "FUNCTION_APP_URL",
        "KEY_VAULT_URL",
        "MAIL_FROM",
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
