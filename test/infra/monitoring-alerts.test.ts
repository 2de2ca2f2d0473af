/**
 * The operators' alerts in Bicep (infra/modules/monitoring-alerts.bicep, composed by infra/main.bicep): `bicep snapshot`
 * of the whole template predicts the resources of a deployment, loops and names resolved, and these tests check the
 * action group and each alert rule on them. No Azure is reachable from the build machines.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAsync } from "../support/run-async.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const mainBicep = join(root, "infra/main.bicep");

type Json = Record<string, unknown>;
interface Predicted {
  id: string;
  type: string;
  name: string;
  properties?: Json;
}


let outDir = "";
let resources: Predicted[] = [];
let lint = "";
const OPERATORS = "ops@platform.example, oncall@platform.example";

beforeAll(async () => {
  const located = await runAsync("bash", [join(root, "scripts/bicep.sh")], 240_000);
  expect(located.status, located.stderr).toBe(0);
  const bicep = located.stdout.trim().split("\n").pop() ?? "";
  outDir = mkdtempSync(join(tmpdir(), "entra-sync-alerts-"));
  const lintRun = await runAsync(bicep, ["lint", join(root, "infra/modules/monitoring-alerts.bicep")], 120_000);
  lint = lintRun.stdout + lintRun.stderr;
  const file = join(outDir, "alerts.bicepparam");
  writeFileSync(file, [`using '${relative(outDir, mainBicep).split("\\").join("/")}'`, "param namePrefix = 'entrasync'", `param operatorEmail = '${OPERATORS}'`].join("\n") + "\n");
  const r = await runAsync(bicep, ["snapshot", file, "--tenant-id", "00000000-0000-0000-0000-0000000000aa", "--subscription-id", "00000000-0000-0000-0000-0000000000bb", "--resource-group", "rg-entra-sync-test", "--location", "westeurope"], 180_000);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  resources = (JSON.parse(readFileSync(join(outDir, "alerts.snapshot.json"), "utf8")) as { predictedResources: Predicted[] }).predictedResources;
}, 600_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const ofType = (type: string) => resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
const logRules = () => ofType("Microsoft.Insights/scheduledQueryRules");
const rule = (suffix: string) => {
  const found = logRules().filter((r) => r.name.endsWith(`-${suffix}`));
  expect(found, `one log alert rule ${suffix}`).toHaveLength(1);
  return found[0]!.properties as Json & { criteria: { allOf: Array<Json & { query: string }> }; actions: { actionGroups: string[] } };
};

describe("operator alerts (infra/modules/monitoring-alerts.bicep)", () => {
  it("lints clean", () => {
    expect(lint.trim()).toBe("");
  });

  it("has one action group e-mailing each operator address, with the common alert schema", () => {
    const [group, ...more] = ofType("Microsoft.Insights/actionGroups");
    expect(more).toEqual([]);
    const receivers = (group!.properties as { emailReceivers: Array<{ emailAddress: string; useCommonAlertSchema: boolean }> }).emailReceivers;
    expect(receivers.map((r) => r.emailAddress)).toEqual(["ops@platform.example", "oncall@platform.example"]);
    expect(receivers.every((r) => r.useCommonAlertSchema)).toBe(true);
    expect((group!.properties as { enabled: boolean }).enabled).toBe(true);
  });

  it("alerts on function failures, poison-queue messages, quarantined tenants and a silent scheduler, each on Application Insights", () => {
    const appInsights = ofType("Microsoft.Insights/components")[0]!.id;
    const failures = rule("function-failures");
    expect(failures.criteria.allOf[0]).toMatchObject({ query: expect.stringContaining("success == false"), operator: "GreaterThan", threshold: 0 });
    const poison = rule("poison-queue-messages");
    expect(poison.criteria.allOf[0]!.query).toContain('name == "syncWorkerPoison"');
    expect(poison.criteria.allOf[0]).toMatchObject({ operator: "GreaterThan", threshold: 0 });
    // The line the app logs when a run quarantines its tenant (src/alerts/operator.ts).
    const quarantined = rule("tenant-quarantined");
    expect(quarantined.criteria.allOf[0]!.query).toContain('"entra-sync.quarantined "');
    const silent = rule("scheduler-silent");
    expect(silent.criteria.allOf[0]).toMatchObject({ query: expect.stringContaining('name == "scheduler" and success == true'), operator: "LessThan", threshold: 1 });
    expect(silent.windowSize).toBe("PT30M");
    for (const r of logRules()) {
      expect((r.properties as { scopes: string[] }).scopes).toEqual([appInsights]);
      expect((r.properties as { enabled: boolean }).enabled).toBe(true);
    }
    expect(logRules()).toHaveLength(4);
  });

  it("alerts on 403 answers of both storage accounts", () => {
    const accounts = ofType("Microsoft.Storage/storageAccounts").map((a) => a.id);
    expect(accounts).toHaveLength(2);
    const metric = ofType("Microsoft.Insights/metricAlerts");
    expect(metric.flatMap((m) => (m.properties as { scopes: string[] }).scopes).sort()).toEqual([...accounts].sort());
    for (const m of metric) {
      const c = (m.properties as { criteria: { allOf: Array<Json & { dimensions: Array<{ name: string; values: string[] }> }> } }).criteria.allOf[0]!;
      expect(c).toMatchObject({ metricName: "Transactions", operator: "GreaterThan", threshold: 0 });
      expect(c.dimensions).toEqual([{ name: "ResponseType", operator: "Include", values: ["AuthorizationError", "AuthenticationError"] }]);
    }
  });

  it("sends every rule to the operators' action group", () => {
    const group = ofType("Microsoft.Insights/actionGroups")[0]!.id;
    for (const r of logRules()) expect((r.properties as { actions: { actionGroups: string[] } }).actions.actionGroups).toEqual([group]);
    for (const m of ofType("Microsoft.Insights/metricAlerts")) expect((m.properties as { actions: Array<{ actionGroupId: string }> }).actions).toEqual([{ actionGroupId: group }]);
  });
});
