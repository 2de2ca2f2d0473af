import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalHost, type LocalHost } from "../../dev/local-host.js";
import { functionsHostSettings } from "../../dev/stack.js";
import { provideApp } from "../../src/functions/app.js";
import type { RunReport } from "../../src/runs/report.js";
import type { TenantStatus } from "../../src/runs/status.js";
import { run, tenantWith } from "../immutable-id/helpers.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

/*
 * The status page in a real browser (headless Chromium from the system, driven by playwright-core; nothing downloads
 * a browser), served by the local host from the functions' own registrations, on a stack with tenants in every state.
 */

const SHOTS = path.resolve(".local/screenshots");
const QUIET = "0 0 0 1 1 *";
const stackOf = useLocalStack();
let host: LocalHost;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const ids: Record<string, string> = {};
let planRunId = "";
let planUsers: string[] = [];
let healthyUsers: string[] = [];
let heldRunId = "";
let heldRemoved: string[] = [];
/** Guard settings that hold a run removing more than one user (no term-start window, changes never count). */
const STRICT_GUARD = { enabled: true, removals: 1, changesPercent: 100, changesFloor: 1_000_000, termStarts: [], termRemovals: 1, termChangesPercent: 100 };

function chromiumPath(): string {
  const given = process.env.CHROMIUM_PATH;
  if (given) return given;
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(p)) return p;
  try {
    return execFileSync("which", ["chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("No Chromium found: install Debian's chromium package (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH.");
  }
}

const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
const ui = (p = "") => `${host.url}/api/ui${p}`;

/** Reloads the run page until the run has ended (the page itself reloads every 3 s; this is a bound, not a timing). */
async function waitForRunEnd(): Promise<string> {
  for (let i = 0; i < 150; i++) {
    const status = (await page.locator("section.report .badge").first().textContent()) ?? "";
    if (!["queued", "running"].includes(status)) return status;
    await page.waitForTimeout(300);
    await page.reload();
  }
  throw new Error("the run did not end");
}

beforeAll(async () => {
  const stack = stackOf();
  provideApp(stack.app);
  mkdirSync(SHOTS, { recursive: true });
  host = await startLocalHost({
    appSettings: { ...functionsHostSettings(stack), SYNC_SCHEDULE: QUIET, SECRET_CHECK_SCHEDULE: QUIET },
    queues: { visibilityTimeoutMs: 0, maxPollingIntervalMs: 200 },
  });
  // Tenants in every state, each made the way production makes it (real runs against the simulator).
  const healthy = simpleDirectory(4);
  ids.healthy = (await onboard(stack, { displayName: "Aspskolan (healthy)", ...healthy })).tenant.tenantId;
  healthyUsers = healthy.users.map((u) => u.id);
  await run(stack, ids.healthy);
  const failing = simpleDirectory(2);
  ids.failing = (await onboard(stack, { displayName: "Björkskolan (failing)", ...failing })).tenant.tenantId;
  ids.quarantined = (await onboard(stack, { displayName: "Cederskolan (quarantined)", ...simpleDirectory(2) })).tenant.tenantId;
  // A secret Entra refuses: every run fails with an auth error.
  for (const id of [ids.failing, ids.quarantined]) await stack.app.secrets.set(id, "not-the-secret-entra-knows", new Date(Date.now() + 365 * 86_400_000), (await stack.app.tenants.require(id)).clientId);
  for (let i = 0; i < 2; i++) await run(stack, ids.failing);
  for (let i = 0; i < 5; i++) await run(stack, ids.quarantined);
  ids.expiring = (await onboard(stack, { displayName: "Ekskolan (secret expiring)", ...simpleDirectory(2), secretDays: 10 })).tenant.tenantId;
  await run(stack, ids.expiring);
  const planned = await tenantWith(stack, { n: 3, immutableId: { maxWritesPerRun: 1 } });
  await stack.app.tenants.update(planned.tenant.tenantId, { displayName: "Granskolan (plan pending)" });
  ids.plan = planned.tenant.tenantId;
  planUsers = planned.users.map((u) => u.id);
  const capped = await run(stack, ids.plan);
  planRunId = capped.runId;
  expect(capped.immutableId?.capExceeded?.planned).toBe(3);
  ids.scim = (await onboard(stack, { displayName: "Hassleskolan (SCIM on)", ...simpleDirectory(1) })).tenant.tenantId;
  await stack.app.scimTokens.create(ids.scim);
  // Held: Entra removes two users of a tenant whose guard holds more than one removal, and a real run stops there.
  const heldDir = simpleDirectory(4);
  ids.held = (await onboard(stack, { displayName: "Idunskolan (held)", ...heldDir, registration: { guard: STRICT_GUARD } })).tenant.tenantId;
  expect((await run(stack, ids.held)).status).toBe("succeeded");
  heldRemoved = heldDir.users.slice(0, 2).map((u) => u.id);
  for (const id of heldRemoved) stack.sim.control.softDeleteUser(ids.held, id);
  const held = await run(stack, ids.held);
  expect(held.status).toBe("held");
  expect(held.hold).toMatchObject({ removals: 2, state: "pending", tripped: ["removals"] });
  heldRunId = held.runId;

  browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"], headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await host?.close();
  provideApp(undefined);
});

describe("the status page in a browser", () => {
  it("is closed until the operator signs in: a wrong key is refused, the right one opens the tenant list", async () => {
    // A script (no navigation) gets 401; a browser is sent to the sign-in form.
    const anonymous = await fetch(ui(`/tenants/${ids.healthy}`), { redirect: "manual" });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain("Aspskolan");

    await page.goto(ui());
    await expect.poll(() => page.url()).toContain("/api/ui/sign-in");
    await page.fill("input[name=key]", "x".repeat(43));
    await page.click("button[type=submit]");
    expect(await page.textContent("[role=alert]")).toContain("not the status page key");
    await page.fill("input[name=key]", stackOf().settings.statusPage.key!);
    await page.click("button[type=submit]");
    await page.waitForURL(/\/api\/ui$/);
    expect(await page.textContent("h1")).toBe("Tenants");
  });

  it("shows every tenant at a glance with counts on top, under a CSP with no inline script or style", async () => {
    const response = await page.goto(ui());
    const csp = response!.headers()["content-security-policy"]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(await page.locator("script, style, [style]").count()).toBe(0);
    // The stylesheet loaded under that policy: the quarantine badge has its colour.
    const bg = await page.locator(".badge-quarantined").first().evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(bg).toBe("rgb(207, 34, 46)");

    const count = async (name: string) => Number((await page.textContent(`[data-count=${name}]`))!.replace(/,/g, ""));
    expect(await count("healthy")).toBe(4); // healthy, expiring, plan (a partial run is a success), SCIM
    expect(await count("failing")).toBe(1);
    expect(await count("quarantined")).toBe(1);
    expect(await count("held")).toBe(1);
    expect(await count("expiring")).toBe(1);
    const row = (id: string) => page.locator(`tr[data-tenant="${id}"]`);
    expect(await row(ids.quarantined!).textContent()).toContain("quarantined");
    expect(await row(ids.failing!).locator("td").nth(4).textContent()).toBe("2");
    expect(await row(ids.expiring!).locator("td").nth(6).textContent()).toMatch(/^(9|10) d$/);
    expect(await row(ids.plan!).textContent()).toContain("3 to write (over cap)");
    expect(await row(ids.plan!).textContent()).toContain("on");
    expect(await row(ids.scim!).locator("td").nth(9).textContent()).toBe("on");
    expect(await row(ids.healthy!).locator("td").nth(9).textContent()).toBe("off");
    expect(await row(ids.held!).locator("td").nth(1).textContent()).toBe("held");
    expect(await row(ids.held!).locator("td").nth(2).textContent()).toContain("held");
    await shot("tenants");
  });

  it("shows the same facts as GET /api/tenants, row by row", async () => {
    const api = (await (await fetch(`${host.url}/api/tenants`, { headers: { "x-functions-key": host.functionKey } })).json()) as { tenants: TenantStatus[] };
    await page.goto(ui("?size=200"));
    for (const t of api.tenants) {
      const cells = page.locator(`tr[data-tenant="${t.tenantId}"] td`);
      expect(await cells.nth(4).textContent(), t.displayName).toBe(String(t.consecutiveFailures));
      expect(await cells.nth(5).textContent()).toBe(t.quarantined ? "quarantined" : "no");
      expect(await cells.nth(6).textContent()).toBe(t.auth === "federated" ? "federated" : t.secret ? `${t.secret.daysLeft} d` : "unknown");
      const pending = t.lastRun?.planPending;
      expect(await cells.nth(8).textContent()).toBe(pending ? `${pending.planned - pending.written} to write${pending.capExceeded ? " (over cap)" : ""}` : "—");
    }
    expect(api.tenants.find((t) => t.tenantId === ids.plan)?.lastRun?.planPending).toMatchObject({ runId: planRunId, planned: 3, written: 0, capExceeded: true });
  });

  it("filters, sorts and pages on the server", async () => {
    await page.selectOption("select[name=filter]", "quarantined");
    await page.click("form.filters button[type=submit]");
    expect(await page.locator("tbody tr").count()).toBe(1);
    expect(await page.locator("tbody tr").getAttribute("data-tenant")).toBe(ids.quarantined);

    await page.goto(ui("?sort=name&dir=desc&size=25"));
    const names = await page.locator("tbody tr td:first-child a").allTextContents();
    expect(names).toEqual([...names].sort().reverse());
    await page.click("th a:has-text('Tenant')"); // toggles to ascending
    expect(await page.locator("tbody tr td:first-child a").allTextContents()).toEqual([...names].sort());

    await page.goto(ui("?filter=held"));
    expect(await page.locator("tbody tr").count()).toBe(1);
    expect(await page.locator("tbody tr").getAttribute("data-tenant")).toBe(ids.held);

    await page.goto(ui("?q=ekskolan"));
    expect(await page.locator("tbody tr").count()).toBe(1);
    await page.goto(ui("?sort=bogus"));
    expect(await page.textContent(".error-box")).toContain("The parameter sort is \"bogus\"");
  });

  it("a tenant page shows the run history with its chart, the last report and errors with what to do", async () => {
    await page.goto(ui(`/tenants/${ids.failing}`));
    expect(await page.textContent("[data-field=consecutiveFailures]")).toBe("2");
    const failure = await page.locator(".error-box[data-code]").first().textContent();
    expect(failure).toMatch(/AUTH_/);
    expect(failure).toContain("What to do:");
    expect(await page.locator("figure.chart svg .series-read circle").count()).toBe(2);
    expect(await page.locator("table.runs tbody tr").count()).toBe(2);
    expect(await page.content()).not.toContain("not-the-secret-entra-knows");
  });

  it("run now: confirm, then the run is queued, worked by syncWorker and its report shown", async () => {
    const before = (await stackOf().app.runs.list(ids.healthy!, 100)).length;
    stackOf().sim.control.updateUser(ids.healthy!, healthyUsers[0]!, { givenName: "Changed" }); // one change for this run
    await page.goto(ui(`/tenants/${ids.healthy}`));
    await page.click("nav.actions a:has-text('Run now')");
    expect(await page.textContent("h1")).toContain("Run Aspskolan (healthy) now");
    expect(await stackOf().app.runs.list(ids.healthy!, 100)).toHaveLength(before); // confirming is a separate step
    await page.click("button:has-text('Confirm')");
    await page.waitForURL(/\/runs\/\d{13}-[0-9a-f]{8}\?queued=1$/);
    expect(await waitForRunEnd()).toBe("succeeded");
    const runs = await stackOf().app.runs.list(ids.healthy!, 100);
    expect(runs).toHaveLength(before + 1);
    expect(runs[0]!.trigger).toBe("manual");
    expect(runs[0]!.update.updated).toBe(1);
    expect(await page.textContent("[data-field='update.read']")).toBe(String(runs[0]!.update.read));
    await page.goto(ui(`/tenants/${ids.healthy}`));
    expect(await page.locator("figure.chart svg .series-updated circle").count()).toBe(2);
    await shot("tenant");
  });

  it("a tenant page lists the tenant's audit log: narrowed to a run, it holds exactly what that run's report counts", async () => {
    const runs = await stackOf().app.runs.list(ids.healthy!, 100);
    const first = runs[runs.length - 1]!;
    expect(first.update.updated).toBeGreaterThan(0);
    await page.goto(ui(`/tenants/${ids.healthy}`));
    // Both runs' changes: the first sync's and the one change of the run started from the page.
    expect(await page.locator("table.audit tbody tr").count()).toBe(first.update.updated + 1);
    await page.click(`table.runs a:has-text("${first.runId}")`);
    await page.click("a:has-text('The audit log of this run')");
    const rows = page.locator("table.audit tbody tr");
    expect(await rows.count()).toBe(first.update.updated);
    for (const run of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-audit-run")))) expect(run).toBe(first.runId);
    await page.goto(ui(`/tenants/${ids.healthy}?auditSince=last%20week`));
    expect(await page.textContent("#audit ~ .error-box")).toContain("since must be a date");
  });

  it("refuses an action without a valid confirmation token, and a GET of it", async () => {
    const before = (await stackOf().app.runs.list(ids.healthy!, 100)).length;
    // The page itself runs no script (its CSP allows none, fetch included): post as another site's form would, with
    // the operator's cookies.
    const url = ui(`/tenants/${ids.healthy}/actions/run`);
    const post = async (target: string, form: Record<string, string>) => (await context.request.post(target, { form, maxRedirects: 0 })).status();
    expect(await post(url, {})).toBe(403);
    expect(await post(url, { confirm: "9999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })).toBe(403);
    expect((await context.request.get(url, { maxRedirects: 0 })).status()).toBe(404);
    // A token made for another action does not open this one.
    await page.goto(ui(`/tenants/${ids.healthy}/confirm/dry-run`));
    const token = (await page.getAttribute("input[name=confirm]", "value"))!;
    const status = await post(ui(`/tenants/${ids.healthy}/actions/run-full`), { confirm: token });
    expect(status).toBe(403);
    expect(await stackOf().app.runs.list(ids.healthy!, 100)).toHaveLength(before);
  });

  it("unquarantine: confirm, and the tenant is scheduled again", async () => {
    await page.goto(ui(`/tenants/${ids.quarantined}`));
    expect(await page.textContent("[data-field=quarantined]")).toBe("quarantined");
    await page.click("nav.actions a:has-text('Unquarantine')");
    await page.click("button:has-text('Confirm')");
    expect(await page.textContent(".notice")).toContain("quarantine is lifted");
    expect(await page.textContent("[data-field=quarantined]")).toBe("no");
    expect((await stackOf().app.health.get(ids.quarantined!)).quarantined).toBe(false);
    await page.goto(ui());
    expect(await page.textContent("[data-count=quarantined]")).toBe("0");
  });

  it("review a plan and force exactly that plan: the reviewed users get their ImmutableId", async () => {
    await page.goto(ui(`/tenants/${ids.plan}`));
    expect(await page.textContent("[data-field='plan.entries']")).toBe("3");
    const csv = await (await context.request.get(ui(`/tenants/${ids.plan}/runs/${planRunId}/plan`))).text();
    for (const id of planUsers) expect(csv).toContain(id);
    await page.click("nav.actions a:has-text('Review and force plan')");
    expect(await page.textContent("h1")).toContain(`plan of run ${planRunId}`);
    expect(await page.locator("table.plan tbody tr").count()).toBe(3);
    await shot("force-plan");
    await page.click("button:has-text('Confirm')");
    expect(await waitForRunEnd()).toBe("succeeded");
    expect(await page.textContent("[data-field='immutableId.written']")).toBe("3");
    const report = (await stackOf().app.runs.list(ids.plan!, 1))[0] as RunReport;
    expect(report.forcePlan).toBe(planRunId);
    for (const id of planUsers) expect(stackOf().sim.control.getUser(ids.plan!, id)?.onPremisesImmutableId).toBeTruthy();
    await shot("run");
  });
  it("approve a held run: the tenant and run pages show the numbers, the preview and the expiry; confirming applies the held removals", async () => {
    const s = stackOf();
    await page.goto(ui(`/tenants/${ids.held}`));
    expect(await page.textContent("h1")).toContain("held");
    expect(await page.textContent(`[data-hold-run="${heldRunId}"]`)).toMatch(/Held for approval\..*2 removals/s);
    expect(await page.textContent("[data-field='hold.removals']")).toBe("2");
    const held = (await s.app.runs.get(ids.held!, heldRunId))!;
    expect(await page.textContent("[data-field='hold.expiresAt']")).toBe(`${held.hold!.expiresAt.slice(0, 16).replace("T", " ")} UTC`);
    const previewed = await page.locator("table.hold-preview tbody tr[data-kind=remove] td.id").allTextContents();
    expect(previewed.sort()).toEqual([...heldRemoved].sort());
    // Nothing was applied yet: the platform users are not marked removed.
    for (const id of heldRemoved) expect((await s.app.directory.findBy(ids.held!, "externalId", [id])).get(id)?.[0]?.entraRemovedAt).toBeUndefined();

    // The run page of the held run offers the same approval.
    await page.goto(ui(`/tenants/${ids.held}/runs/${heldRunId}`));
    expect(await page.textContent("section.hold h3")).toContain("waiting for approval");
    await page.click("nav.actions a:has-text('Review and approve held run')");
    expect(await page.textContent("h1")).toContain(`Approve held run ${heldRunId}`);
    expect(await page.textContent("main")).toContain(`entra-sync runs approve ${heldRunId}`);
    expect(await page.locator("table.hold-preview tbody tr").count()).toBe(2);
    await shot("approve");
    // The confirmation is bound to this held run: with another run id in the form it opens nothing.
    const token = (await page.getAttribute("input[name=confirm]", "value"))!;
    const other = `${heldRunId.slice(0, 13)}-00000000`;
    expect((await context.request.post(ui(`/tenants/${ids.held}/actions/approve`), { form: { confirm: token, run: other }, maxRedirects: 0 })).status()).toBe(403);
    expect((await s.app.runs.get(ids.held!, heldRunId))!.hold!.state).toBe("pending");

    await page.click("button:has-text('Confirm')");
    await page.waitForURL(/\/runs\/\d{13}-[0-9a-f]{8}\?queued=1$/);
    expect(await page.textContent(".notice")).toContain(`held run ${heldRunId}`);
    expect(await waitForRunEnd()).toBe("succeeded");
    const applied = (await s.app.runs.list(ids.held!, 1))[0]!;
    expect(applied.approves).toBe(heldRunId);
    expect(applied.update.removed).toBe(2);
    for (const id of heldRemoved) expect((await s.app.directory.findBy(ids.held!, "externalId", [id])).get(id)?.[0]?.entraRemovedAt).toBeTruthy();
    expect((await s.app.runs.get(ids.held!, heldRunId))!.hold).toMatchObject({ state: "approved", approvedBy: "local operator", approvedRunId: applied.runId });

    await page.goto(ui(`/tenants/${ids.held}/runs/${heldRunId}`));
    expect(await page.textContent("section.hold h3")).toContain("approved");
    expect(await page.locator("nav.actions a:has-text('Review and approve held run')").count()).toBe(0);
    await page.goto(ui());
    expect(await page.textContent("[data-count=held]")).toBe("0");
  });
});
