import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { buildCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { formatReport } from "../../src/cli/format.js";
import { getRunPlan, planToCsv } from "../../src/immutable-id/plan.js";
import { useLocalStack } from "../support/stack.js";
import { b64, immutableStep, patchesPerUser, run, tenantWith } from "./helpers.js";

const stack = useLocalStack();

describe("Immutable ID sync against the local stack", () => {
  it("preview writes nothing and stores the full plan (JSON, CSV, CLI)", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { n: 12, immutableId: { mode: "preview" } });
    s.sim.control.resetStats();
    const report = await run(s, tenant.tenantId);
    expect(report.status).toBe("succeeded");
    expect(report.immutableId).toMatchObject({ candidates: 12, planned: 12, written: 0 });
    expect(s.sim.control.stats().writes).toBe(0);
    for (const u of users) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBeNull();

    const plan = await getRunPlan(s.app, tenant.tenantId, report.runId);
    expect(plan).toHaveLength(12);
    const u0 = plan.find((p) => p.entraId === users[0]!.id)!;
    expect(u0).toEqual({ entraId: users[0]!.id, userPrincipalName: "user0@school.onmicrosoft.com", value: b64("p-0"), platformUserId: "p-0", action: "write" });
    const csv = planToCsv(plan);
    expect(csv.split("\r\n")[0]).toBe("entraId,userPrincipalName,onPremisesImmutableId,platformUserId,action");
    expect(csv).toContain(`${users[0]!.id},user0@school.onmicrosoft.com,${b64("p-0")},p-0,write`);

    const lines: string[] = [];
    const io: CliIO = { out: (t) => lines.push(t), err: (t) => lines.push(t), readStdin: async () => "", isTTY: false };
    await buildCli(() => s.app, io).parseAsync(["plan", "--tenant", tenant.tenantId, "--run", report.runId, "--csv"], { from: "user" });
    expect(lines.join("\n")).toBe(csv.trimEnd().replace(/\r\n/g, "\n"));

    // dry run in mode on: also nothing written
    await s.app.tenants.update(tenant.tenantId, { immutableId: { ...tenant.immutableId, mode: "on" } });
    const dry = await run(s, tenant.tenantId, { only: ["immutableId"], dryRun: true });
    expect(dry.immutableId?.planned).toBe(12);
    expect(s.sim.control.stats().writes).toBe(0);
    // an identical plan points at the run that stored it
    expect(dry.immutableId?.plan?.runId).toBe(report.runId);
    expect(await getRunPlan(s.app, tenant.tenantId, dry.runId)).toHaveLength(12);
  });

  it("writes the planned values once, skips with reasons, and leaves alone who gained one before the write", async () => {
    const s = stack();
    // source email: update sync maps it from Entra's mail, so the Entra users decide the values
    const u = (name: string, extra: Record<string, unknown> = {}) => ({ id: randomUUID(), userPrincipalName: `${name}@school.onmicrosoft.com`, mail: `${name}@school.example`, ...extra });
    const onPrem = u("onprem", { onPremisesSyncEnabled: true });
    const already = u("already", { onPremisesImmutableId: b64("taken@school.example") });
    const unmatched = u("nobody");
    const dupA = u("dupa", { mail: "same@school.example" });
    const dupB = u("dupb", { mail: "same@school.example" });
    const dupTaken = u("taken");
    const empty = u("empty", { mail: null });
    const privileged = u("admin", { privileged: true });
    const students = Array.from({ length: 6 }, (_, i) => u(`student${i}`));
    const users = [onPrem, already, unmatched, dupA, dupB, dupTaken, empty, privileged, ...students];
    const platformUsers = users.filter((x) => x !== unmatched).map((x, i) => ({ id: `p-${i}`, tenantId: "x", externalId: x.id }));
    const { tenant } = await tenantWith(s, { users, platformUsers, immutableId: { source: "email" } });
    await run(s, tenant.tenantId, { only: ["update"], full: true });
    const gainer = students[0]!.id;
    s.sim.control.gainImmutableIdBeforeNextRead(tenant.tenantId, gainer, "c29tZW9uZS1lbHNl");
    s.sim.control.resetStats();

    const report = await run(s, tenant.tenantId, { only: ["immutableId"] });
    const iid = report.immutableId!;
    expect(iid.skipped).toEqual({ alreadySet: 2, onPremisesSynced: 1, noPlatformMatch: 1, duplicateValue: 3, emptySource: 1, privilegedUser: 1 });
    expect(iid.candidates).toBe(users.length - 2); // everyone but the on-premises and the already-set user
    expect(iid.planned).toBe(7); // privileged + 6 students
    expect(iid.written).toBe(5);
    expect(s.sim.control.getUser(tenant.tenantId, gainer)?.onPremisesImmutableId).toBe("c29tZW9uZS1lbHNl");
    expect(s.sim.control.getUser(tenant.tenantId, already.id)?.onPremisesImmutableId).toBe(b64("taken@school.example"));
    expect(s.sim.control.getUser(tenant.tenantId, onPrem.id)?.onPremisesImmutableId).toBeNull();
    for (const x of students.slice(1)) expect(s.sim.control.getUser(tenant.tenantId, x.id)?.onPremisesImmutableId).toBe(b64(x.mail));
    const patches = patchesPerUser(s, tenant.tenantId, false);
    for (const x of [gainer, dupA.id, dupB.id, dupTaken.id, empty.id, onPrem.id, already.id]) expect(patches.get(x)).toBeUndefined();
    expect(report.notices.join(" ")).toMatch(/privileged/);
    // The rows written back after the writes (a full re-plan kept slim rows) hold the whole Entra user.
    expect(report.immutableId?.planning?.kind).toBe("full");
    for (const x of students.slice(1)) expect((await s.app.connector.get(tenant.tenantId, x.id))?.user).toMatchObject({ mail: x.mail, userPrincipalName: x.userPrincipalName, onPremisesImmutableId: b64(x.mail) });
    // the connector space knows the new values: the next run plans only the privileged user, refused again
    const again = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(again.immutableId?.planned).toBe(1);
    expect(again.immutableId?.written).toBe(0);
  });

  it("over the cap writes nothing; forced with the reviewed plan, it writes", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { n: 10, immutableId: { maxWritesPerRun: 5 } });
    const r1 = await run(s, tenant.tenantId);
    expect(r1.immutableId?.capExceeded).toEqual({ planned: 10, maxWrites: 5, maxPercent: 100, tenantUsers: 10, cap: 5, mode: "on" });
    expect(r1.immutableId?.written).toBe(0);
    expect(r1.status).toBe("partial");
    expect(r1.errors.map((e) => e.code)).toContain("IMMUTABLE_ID_CAP_EXCEEDED");
    for (const u of users) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBeNull();
    const r2 = await run(s, tenant.tenantId, { only: ["immutableId"], forcePlan: r1.runId });
    expect(r2.immutableId?.written).toBe(10);
    expect(r2.status).toBe("succeeded");
  });

  it("over the cap the error and the report name the effective cap; in preview they say to switch the mode on first", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 30, immutableId: { maxWritesPerRun: 500, maxPercentPerRun: 10 } }); // cap 3
    const on = await run(s, tenant.tenantId);
    const err = on.errors.find((e) => e.code === "IMMUTABLE_ID_CAP_EXCEEDED")!;
    expect(err.message).toMatch(/cap of 3 per run/);
    expect(formatReport(on)).toMatch(/CAP EXCEEDED: 30 planned > cap of 3 /);
    expect(formatReport(on)).not.toContain("--immutable-id-mode on");

    const p = await tenantWith(s, { n: 30, immutableId: { mode: "preview", maxWritesPerRun: 500, maxPercentPerRun: 10 } });
    const preview = await run(s, p.tenant.tenantId);
    const text = formatReport(preview);
    expect(text).toMatch(/CAP EXCEEDED: 30 planned > cap of 3 /);
    expect(text).toContain(`switch the mode on (entra-sync tenant update ${p.tenant.tenantId} --immutable-id-mode on), then run with --force-plan ${preview.runId}`);
    expect(preview.notices.join("\n")).toContain(`entra-sync tenant update ${p.tenant.tenantId} --immutable-id-mode on`);
  });

  it("retries inner-batch 429s after their own Retry-After: nothing lost, nothing written twice", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { n: 25 });
    await run(s, tenant.tenantId, { only: ["update"] });
    s.sim.control.resetStats();
    s.sim.control.injectFault({ method: "PATCH", path: "/users/", status: 429, headers: { "Retry-After": "1" }, count: 7 });
    const report = await immutableStep(s, tenant);
    expect(report.immutableId?.written).toBe(25);
    expect(report.graph.throttled).toBeGreaterThanOrEqual(7);
    expect(report.graph.retried).toBeGreaterThanOrEqual(7);
    const ok = patchesPerUser(s, tenant.tenantId);
    for (const u of users) expect(ok.get(u.id)).toBe(1);
    // each throttled user was sent again only after its Retry-After
    const log = s.sim.control.requestLog().filter((e) => e.method === "PATCH");
    expect(log.filter((e) => e.status === 429).length).toBeGreaterThanOrEqual(7);
    for (const t of log.filter((e) => e.status === 429)) {
      const next = log.find((e) => e.path === t.path && e.status === 204)!;
      expect(Date.parse(next.ts) - Date.parse(t.ts)).toBeGreaterThanOrEqual(900);
    }
  });

  it("switchUpn: moves the UPN, writes, restores it; a value taken in Entra is found before the UPN moves", async () => {
    const s = stack();
    const fed = randomUUID();
    const fedFail = randomUUID();
    const holder = randomUUID();
    const users = [
      { id: fed, userPrincipalName: "anna@skolan.se" },
      { id: fedFail, userPrincipalName: "bo@skolan.se" },
      { id: holder, userPrincipalName: "holder@school.onmicrosoft.com" },
    ];
    const platformUsers = [
      { id: "p-anna", tenantId: "x", externalId: fed },
      { id: "p-bo", tenantId: "x", externalId: fedFail },
    ];
    const { tenant } = await tenantWith(s, { users, platformUsers, federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    // Someone takes Bo's value behind the connector space's back: the check before the move finds it.
    s.sim.control.updateUser(tenant.tenantId, holder, { onPremisesImmutableId: b64("p-bo") });
    s.sim.control.resetStats();
    const report = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(report.immutableId?.written).toBe(1);
    expect(report.immutableId?.failed).toEqual({ duplicateValue: 1 });
    const anna = s.sim.control.getUser(tenant.tenantId, fed)!;
    expect(anna.onPremisesImmutableId).toBe(b64("p-anna"));
    expect(anna.userPrincipalName).toBe("anna@skolan.se");
    const bo = s.sim.control.getUser(tenant.tenantId, fedFail)!;
    expect(bo.onPremisesImmutableId).toBeNull();
    expect(bo.userPrincipalName).toBe("bo@skolan.se");
    expect(report.errors.map((e) => e.code)).not.toContain("IMMUTABLE_ID_UPN_RESTORE_FAILED");
    const boPatches = s.sim.control.requestLog().filter((e) => e.method === "PATCH" && e.path.includes(fedFail));
    expect(boPatches).toEqual([]); // Bo's UPN never moved
    expect((await s.app.connector.get(tenant.tenantId, fedFail))?.upnSwitch).toBeUndefined();

    // with the default (skip), federated users are left alone
    const other = await tenantWith(s, { users: [{ id: randomUUID(), userPrincipalName: "cy@skolan.se" }], platformUsers: [], federatedDomains: ["skolan.se"] });
    await s.app.directory.importUsers(other.tenant.tenantId, [{ id: "p-cy", tenantId: other.tenant.tenantId, externalId: other.users[0]!.id }]);
    const r2 = await run(s, other.tenant.tenantId);
    expect(r2.immutableId?.skipped.federatedDomain).toBe(1);
    expect(r2.immutableId?.written).toBe(0);
  });

  it("switchUpn: a second step Entra refuses leaves the user on the temporary UPN, recorded and reported; a run after the conflict is resolved finishes the move", async () => {
    const s = stack();
    const id = randomUUID();
    const holder = randomUUID();
    const users = [{ id, userPrincipalName: "bo@skolan.se" }, { id: holder, userPrincipalName: "holder@school.onmicrosoft.com" }];
    const { tenant } = await tenantWith(s, { users, platformUsers: [{ id: "p-bo", tenantId: "x", externalId: id }], federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    s.sim.control.resetStats();
    // Another admin gives Bo's value to someone else between the two steps: Entra refuses the second (ObjectConflict).
    const report = await immutableStep(s, tenant, { hooks: { afterMove: () => s.sim.control.updateUser(tenant.tenantId, holder, { onPremisesImmutableId: b64("p-bo") }) } });
    expect(s.sim.control.getUser(tenant.tenantId, id)).toMatchObject({ userPrincipalName: "bo@school.onmicrosoft.com", onPremisesImmutableId: null });
    // no UPN-alone put-back: Entra would refuse it (a federated domain takes a user only with an ImmutableId)
    const boPatches = s.sim.control.requestLog().filter((e) => e.method === "PATCH" && e.path.includes(id));
    expect(boPatches.map((e) => e.status)).toEqual([204, 400]);
    expect(report.immutableId?.failed).toEqual({ duplicateValue: 1 });
    const stuck = report.errors.find((e) => e.code === "IMMUTABLE_ID_UPN_RESTORE_FAILED")!;
    expect(stuck.users).toEqual([id]);
    for (const part of [id, "bo@school.onmicrosoft.com", "bo@skolan.se", "together with an ImmutableId in the same change", "another object in Entra holds the ImmutableId", "next run finish"]) expect(stuck.message).toContain(part);
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toMatchObject({ original: "bo@skolan.se", temporary: "bo@school.onmicrosoft.com", value: b64("p-bo") });

    // every run tries again while the conflict lasts, and says so
    const again = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(again.errors.find((e) => e.code === "IMMUTABLE_ID_UPN_RESTORE_FAILED")?.users).toEqual([id]);
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("bo@school.onmicrosoft.com");
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch?.value).toBe(b64("p-bo"));

    // the customer's admin resolves the conflict: the next run finishes the move
    s.sim.control.updateUser(tenant.tenantId, holder, { onPremisesImmutableId: null });
    const done = await run(s, tenant.tenantId);
    expect(s.sim.control.getUser(tenant.tenantId, id)).toMatchObject({ userPrincipalName: "bo@skolan.se", onPremisesImmutableId: b64("p-bo") });
    expect(done.errors.map((e) => e.code)).not.toContain("IMMUTABLE_ID_UPN_RESTORE_FAILED");
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
  });

  it("switchUpn: a run that stopped between moving the UPN and writing leaves a marker; the next run puts the UPN back and writes", async () => {
    const s = stack();
    const id = randomUUID();
    const { tenant } = await tenantWith(s, { users: [{ id, userPrincipalName: "dan@skolan.se" }], platformUsers: [{ id: "p-dan", tenantId: "x", externalId: id }], federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    // The state a crash right after the first PATCH leaves: the UPN on the initial domain, the marker in the row.
    const temporary = "dan@school.onmicrosoft.com";
    s.sim.control.updateUser(tenant.tenantId, id, { userPrincipalName: temporary });
    const row = (await s.app.connector.get(tenant.tenantId, id))!;
    await s.app.connector.putMany(tenant.tenantId, [{ ...row, upnSwitch: { original: "dan@skolan.se", temporary, at: new Date().toISOString() } }]);

    const report = await run(s, tenant.tenantId); // update sync sees the temporary UPN; Immutable ID sync repairs it
    const dan = s.sim.control.getUser(tenant.tenantId, id)!;
    expect(dan.userPrincipalName).toBe("dan@skolan.se");
    expect(dan.onPremisesImmutableId).toBe(b64("p-dan"));
    expect(report.notices.join(" ")).toMatch(/switchUpn move\(s\) an earlier run left unfinished/);
    expect(report.errors.map((e) => e.code)).not.toContain("IMMUTABLE_ID_UPN_RESTORE_FAILED");
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
  });

  it("mode off skips the step with a notice", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 3, immutableId: { mode: "off" } });
    s.sim.control.resetStats();
    const report = await run(s, tenant.tenantId);
    expect(report.immutableId).toBeUndefined();
    expect(report.notices.join(" ")).toMatch(/Immutable ID sync is off/);
    expect(s.sim.control.stats().writes).toBe(0);
  });
});
