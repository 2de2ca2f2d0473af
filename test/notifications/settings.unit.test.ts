import { describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { EntraSyncError } from "../../src/errors.js";

const base = { AzureWebJobsStorage: "UseDevelopmentStorage=true", KEY_VAULT_URL: "https://v.vault.azure.net/" };

function refused(env: Record<string, string>): string {
  try {
    loadSettings({ ...base, ...env });
  } catch (e) {
    expect(e).toBeInstanceOf(EntraSyncError);
    expect((e as EntraSyncError).code).toBe("CONFIG_INVALID");
    return (e as EntraSyncError).message;
  }
  throw new Error("expected loadSettings to throw");
}

describe("change notification settings", () => {
  it("default: no subscriptions, 5 s coalescing, 60 min interval while healthy", () => {
    expect(loadSettings(base).notifications).toEqual({ baseUrl: undefined, coalesceSeconds: 5, notifiedIntervalMinutes: 60 });
  });

  it("NOTIFICATION_URL: https, or http on loopback only; trailing slashes dropped; no query", () => {
    expect(loadSettings({ ...base, NOTIFICATION_URL: "https://app.azurewebsites.net/" }).notifications.baseUrl).toBe("https://app.azurewebsites.net");
    expect(loadSettings({ ...base, NOTIFICATION_URL: "http://127.0.0.1:7071" }).notifications.baseUrl).toBe("http://127.0.0.1:7071");
    expect(refused({ NOTIFICATION_URL: "http://app.azurewebsites.net" })).toMatch(/NOTIFICATION_URL .*https:\/\//);
    expect(refused({ NOTIFICATION_URL: "app.azurewebsites.net" })).toMatch(/NOTIFICATION_URL .*base URL/);
    expect(refused({ NOTIFICATION_URL: "https://app.azurewebsites.net/?code=x" })).toMatch(/NOTIFICATION_URL .*no query/);
  });

  it("NOTIFY_COALESCE_SECONDS 0–60 and NOTIFIED_SYNC_INTERVAL_MINUTES 0–1440, whole numbers", () => {
    expect(loadSettings({ ...base, NOTIFY_COALESCE_SECONDS: "0", NOTIFIED_SYNC_INTERVAL_MINUTES: "0" }).notifications).toMatchObject({ coalesceSeconds: 0, notifiedIntervalMinutes: 0 });
    expect(refused({ NOTIFY_COALESCE_SECONDS: "61" })).toMatch(/NOTIFY_COALESCE_SECONDS .*0 to 60/);
    expect(refused({ NOTIFY_COALESCE_SECONDS: "2.5" })).toMatch(/NOTIFY_COALESCE_SECONDS/);
    expect(refused({ NOTIFIED_SYNC_INTERVAL_MINUTES: "-1" })).toMatch(/NOTIFIED_SYNC_INTERVAL_MINUTES .*0 to 1440/);
  });
});
