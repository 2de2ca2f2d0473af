import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { APP_SETTINGS, FUNCTION_TIMEOUT_SECONDS, loadSettings, MAX_RUN_TIME_BUDGET_SECONDS } from "../../src/config/settings.js";
import { EntraSyncError } from "../../src/errors.js";
import { endpointsFor } from "../../src/config/clouds.js";

const base = { AzureWebJobsStorage: "UseDevelopmentStorage=true", KEY_VAULT_URL: "https://v.vault.azure.net/" };

function codeAndMessage(env: Record<string, string>): [string, string] {
  try {
    loadSettings(env);
  } catch (e) {
    expect(e).toBeInstanceOf(EntraSyncError);
    return [(e as EntraSyncError).code, (e as EntraSyncError).message];
  }
  throw new Error("expected loadSettings to throw");
}

describe("settings", () => {
  it("local.settings.example.json lists every setting the app reads, and holds no secret", () => {
    const example = JSON.parse(readFileSync("local.settings.example.json", "utf8")) as { Values: Record<string, string> };
    for (const name of Object.keys(APP_SETTINGS)) expect(Object.keys(example.Values), name).toContain(name);
    expect(example.Values.PLATFORM_CLIENT_SECRET).toBe("");
    expect(example.Values.SMTP_URL).toBe("");
  });

  it("defaults are what the README says", () => {
    const s = loadSettings(base);
    expect(s.syncSchedule).toBe("0 */5 * * * *");
    expect(s.secretCheckSchedule).toBe("0 0 6 * * *");
    expect(s.alertThresholdsDays).toEqual([60, 30, 14, 7, 3, 1, 0]);
    expect(s.mail.transport).toBe("outbox");
    expect(s.platformCredential.kind).toBe("managed-identity");
    expect(Object.isFrozen(s)).toBe(true);
  });

  it("identity-based storage derives the endpoints from the account name", () => {
    const s = loadSettings({ AzureWebJobsStorage__accountName: "entrasyncst", KEY_VAULT_URL: base.KEY_VAULT_URL });
    expect(s.storage).toEqual({ kind: "identity", tableUrl: "https://entrasyncst.table.core.windows.net", queueUrl: "https://entrasyncst.queue.core.windows.net" });
  });

  it("the largest RUN_TIME_BUDGET_SECONDS stays below host.json's functionTimeout", () => {
    const [h, m, sec] = (JSON.parse(readFileSync(new URL("../../host.json", import.meta.url), "utf8")) as { functionTimeout: string }).functionTimeout.split(":").map(Number);
    expect(h! * 3600 + m! * 60 + sec!).toBe(FUNCTION_TIMEOUT_SECONDS);
    expect(MAX_RUN_TIME_BUDGET_SECONDS).toBeLessThan(FUNCTION_TIMEOUT_SECONDS);
    expect(loadSettings({ ...base, RUN_TIME_BUDGET_SECONDS: String(MAX_RUN_TIME_BUDGET_SECONDS) }).runTimeBudgetSeconds).toBe(MAX_RUN_TIME_BUDGET_SECONDS);
  });

  it.each([
    [{ KEY_VAULT_URL: base.KEY_VAULT_URL }, /AzureWebJobsStorage is missing/],
    [{ AzureWebJobsStorage: "UseDevelopmentStorage=true" }, /KEY_VAULT_URL is missing/],
    [{ ...base, KEY_VAULT_URL: "http://v.vault.azure.net" }, /KEY_VAULT_URL is invalid.*https/],
    [{ ...base, SYNC_SCHEDULE: "*/5 * * * *" }, /SYNC_SCHEDULE is invalid.*six fields/],
    [{ ...base, ALERT_THRESHOLDS_DAYS: "30,fourteen" }, /ALERT_THRESHOLDS_DAYS holds "fourteen"/],
    [{ ...base, RUN_TIME_BUDGET_SECONDS: "5" }, /RUN_TIME_BUDGET_SECONDS is "5" but must be/],
    [{ ...base, RUN_TIME_BUDGET_SECONDS: "3600" }, /RUN_TIME_BUDGET_SECONDS is "3600" but must be .* between 10 and 1500: .*functionTimeout \(1800 s\)/],
    [{ ...base, MAIL_TRANSPORT: "pigeon" }, /MAIL_TRANSPORT is "pigeon" but must be one of acs, smtp, outbox/],
    [{ ...base, MAIL_TRANSPORT: "acs" }, /ACS_EMAIL_ENDPOINT is missing/],
    [{ ...base, MAIL_TRANSPORT: "smtp", SMTP_URL: "mail.example:25" }, /SMTP_URL must start with smtp/],
    [{ ...base, PLATFORM_CREDENTIAL: "client-secret" }, /PLATFORM_TENANT_ID is missing/],
    [{ ...base, PLATFORM_CREDENTIAL: "default" }, /PLATFORM_CREDENTIAL is "default"/],
    [{ ...base, AzureWebJobsStorage__accountName: "Bad_Name", AzureWebJobsStorage: "" }, /accountName is "Bad_Name"/],
    [{ ...base, OPERATOR_EMAIL: "ops" }, /OPERATOR_EMAIL is invalid/],
  ])("a bad value fails at start naming the setting: %j", (env, message) => {
    const [code, msg] = codeAndMessage(env as Record<string, string>);
    expect(code).toBe("CONFIG_INVALID");
    expect(msg).toMatch(message);
  });

  it("a SMTP_URL password never appears in an error", () => {
    const [, msg] = codeAndMessage({ ...base, MAIL_TRANSPORT: "smtp", SMTP_URL: "ftp://user:hunter2secret@x" });
    expect(msg).not.toContain("hunter2secret");
  });

  it("clouds: national hosts, and overrides mark the endpoints custom", () => {
    expect(endpointsFor("china", {})).toEqual({ authorityHost: "https://login.partner.microsoftonline.cn", graphBaseUrl: "https://microsoftgraph.chinacloudapi.cn", custom: false });
    expect(endpointsFor("usgovdod", {}).graphBaseUrl).toBe("https://dod-graph.microsoft.us");
    expect(endpointsFor("global", { graphBaseUrl: "https://127.0.0.1:9/" })).toMatchObject({ graphBaseUrl: "https://127.0.0.1:9", custom: true });
  });
});

describe("the app's data account and full-read admission", () => {
  it("APP_STORAGE names the account of the app's tables and queues, apart from the host's; unset, the host's is used", () => {
    const host = { AzureWebJobsStorage__accountName: "hostst", KEY_VAULT_URL: base.KEY_VAULT_URL };
    expect(loadSettings(host).storage).toEqual({ kind: "identity", tableUrl: "https://hostst.table.core.windows.net", queueUrl: "https://hostst.queue.core.windows.net" });
    expect(loadSettings({ ...host, APP_STORAGE__accountName: "datast" }).storage).toEqual({ kind: "identity", tableUrl: "https://datast.table.core.windows.net", queueUrl: "https://datast.queue.core.windows.net" });
    expect(loadSettings({ ...base, APP_STORAGE: "UseDevelopmentStorage=true" }).storage).toEqual({ kind: "connectionString", connectionString: "UseDevelopmentStorage=true" });
    expect(codeAndMessage({ ...host, APP_STORAGE__accountName: "Data-St" })).toEqual(["CONFIG_INVALID", expect.stringContaining("APP_STORAGE__accountName")]);
  });

  it("MAX_CONCURRENT_FULL_READS is a whole number from 1 to 1000, default 8", () => {
    expect(loadSettings(base).maxConcurrentFullReads).toBe(8);
    expect(loadSettings({ ...base, MAX_CONCURRENT_FULL_READS: "3" }).maxConcurrentFullReads).toBe(3);
    for (const bad of ["0", "2.5", "x", "1001"]) expect(codeAndMessage({ ...base, MAX_CONCURRENT_FULL_READS: bad })).toEqual(["CONFIG_INVALID", expect.stringContaining("MAX_CONCURRENT_FULL_READS")]);
  });
});
