import { describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { authenticate, checkConfirmToken, confirmToken, groupsOf, signIn, type AccessRequest } from "../../src/ui/access.js";
import { tenantsPage } from "../../src/ui/pages.js";
import { overviewPage, parseOverviewQuery, healthOf } from "../../src/ui/overview.js";

const KEY = "k".repeat(20) + "0123456789abcdefghij";
const base = { KEY_VAULT_URL: "https://v.vault.azure.net/", AzureWebJobsStorage: "UseDevelopmentStorage=true" };
const local = loadSettings({ ...base, STATUS_PAGE_AUTH: "local", STATUS_PAGE_KEY: KEY });
const GROUP = "11111111-2222-3333-4444-555555555555";
const azure = loadSettings({ ...base, STATUS_PAGE_KEY: KEY, STATUS_PAGE_OPERATORS_GROUP: GROUP });
const now = new Date("2026-11-30T12:00:00Z");
const req = (headers: Record<string, string>): AccessRequest => ({ header: (n) => headers[n.toLowerCase()] ?? null, secure: false });
const principal = (groups: string[]) => Buffer.from(JSON.stringify({ auth_typ: "aad", claims: groups.map((g) => ({ typ: "groups", val: g })) })).toString("base64");

describe("status page settings", () => {
  it("refuse a bad STATUS_PAGE_* value naming it; an unresolved Key Vault reference is no key", () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadSettings({ ...base, ...env });
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(refused({ STATUS_PAGE_AUTH: "open" })).toMatch(/STATUS_PAGE_AUTH .*appservice or local/);
    expect(refused({ STATUS_PAGE_KEY: "short" })).toMatch(/STATUS_PAGE_KEY is 5 characters long but must be at least 32/);
    expect(refused({ STATUS_PAGE_KEY: "short-and-secret" })).not.toContain("short-and-secret");
    expect(refused({ STATUS_PAGE_OPERATORS_GROUP: "operators" })).toMatch(/STATUS_PAGE_OPERATORS_GROUP must be the object id/);
    expect(loadSettings({ ...base, STATUS_PAGE_KEY: "@Microsoft.KeyVault(VaultName=kv;SecretName=status-page-key)" }).statusPage.key).toBeUndefined();
    expect(loadSettings(base).statusPage).toEqual({ auth: "appservice", operatorsGroup: undefined, key: undefined });
  });
});

describe("status page access", () => {
  it("local: the right key gives a session cookie that opens the page until it expires; a wrong key or a forged cookie does not", () => {
    expect(signIn(local, req({}), "wrong", now)).toMatchObject({ ok: false });
    const r = signIn(local, req({}), KEY, now);
    if (!r.ok) throw new Error(r.reason);
    expect(r.setCookie).toMatch(/HttpOnly; SameSite=Strict/);
    const cookie = r.setCookie.split(";")[0]!;
    expect(authenticate(local, req({ cookie }), now, "/api/ui")).toMatchObject({ ok: true });
    expect(authenticate(local, req({ cookie }), new Date(now.getTime() + 9 * 3600_000), "/api/ui")).toMatchObject({ ok: false, status: 401 });
    const forged = cookie.slice(0, -2) + (cookie.endsWith("AA") ? "BB" : "AA");
    expect(authenticate(local, req({ cookie: forged }), now, "/api/ui")).toMatchObject({ ok: false, status: 401, signIn: "/api/ui/sign-in?next=%2Fapi%2Fui" });
    // Easy Auth's headers mean nothing to a local page.
    expect(authenticate(local, req({ "x-ms-client-principal-id": "someone" }), now, "/api/ui")).toMatchObject({ ok: false });
  });

  it("appservice: the signed-in user must be in the operators' group", () => {
    expect(authenticate(azure, req({}), now, "/api/ui")).toMatchObject({ ok: false, status: 401, signIn: "/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Fui" });
    const who = { "x-ms-client-principal-id": "u1", "x-ms-client-principal-name": "ops@platform.example" };
    expect(authenticate(azure, req({ ...who, "x-ms-client-principal": principal(["99999999-2222-3333-4444-555555555555"]) }), now, "/")).toMatchObject({ ok: false, status: 403 });
    expect(authenticate(azure, req({ ...who, "x-ms-client-principal": principal([GROUP.toUpperCase()]) }), now, "/")).toMatchObject({ ok: true, operator: { id: "u1" } });
    expect(groupsOf("not base64 json").size).toBe(0);
    expect(signIn(azure, req({}), KEY, now)).toMatchObject({ ok: false });
  });

  it("without STATUS_PAGE_KEY the page refuses with what to set", () => {
    const bare = loadSettings(base);
    expect(authenticate(bare, req({ "x-ms-client-principal-id": "u1" }), now, "/")).toMatchObject({ ok: false, status: 503, reason: expect.stringContaining("STATUS_PAGE_KEY") });
  });

  it("a confirmation token opens only its operator's action on its tenant with its argument, and only for a while", () => {
    const op = { id: "u1", name: "ops" };
    const t = confirmToken(azure, op, "T|force-plan|8000000000000-aaaaaaaa", now);
    expect(checkConfirmToken(azure, op, "T|force-plan|8000000000000-aaaaaaaa", t, now)).toBe(true);
    expect(checkConfirmToken(azure, op, "T|force-plan|8000000000000-bbbbbbbb", t, now)).toBe(false);
    expect(checkConfirmToken(azure, op, "U|force-plan|8000000000000-aaaaaaaa", t, now)).toBe(false);
    expect(checkConfirmToken(azure, { id: "u2", name: "x" }, "T|force-plan|8000000000000-aaaaaaaa", t, now)).toBe(false);
    expect(checkConfirmToken(azure, op, "T|force-plan|8000000000000-aaaaaaaa", t, new Date(now.getTime() + 31 * 60_000))).toBe(false);
    const otherKey = loadSettings({ ...base, STATUS_PAGE_KEY: "z".repeat(40) });
    expect(checkConfirmToken(otherKey, op, "T|force-plan|8000000000000-aaaaaaaa", t, now)).toBe(false);
  });

  it("renders what tenants are called as text, never as markup", () => {
    const status = { tenantId: "00000000-0000-4000-8000-000000000001", displayName: '<script>alert("x")</script><b onmouseover=1>', enabled: true, syncIntervalMinutes: 5, activeRun: null, abandonedRun: null, lastRun: null, lastSuccessAt: null, nextRunAt: null, consecutiveFailures: 0, backoffUntil: null, quarantined: false, quarantineReason: null, lastFailure: null, secret: null, auth: "secret" as const };
    const page = tenantsPage(overviewPage([{ status, health: healthOf(status), immutableIdMode: "off", scim: { on: false, lastUsedAt: null } }], parseOverviewQuery([])), { id: "u", name: "ops" });
    expect(page).not.toContain("<script>");
    expect(page).not.toContain("<b onmouseover");
    expect(page).toContain("&lt;script>");
  });
});
