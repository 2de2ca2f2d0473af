import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { getRunPlan } from "../../src/immutable-id/plan.js";
import type { ImmutableIdConfig } from "../../src/tenants/model.js";
import { useLocalStack } from "../support/stack.js";
import { b64, immutableStep, leaveOnTemporaryUpn, run, tenantWith } from "./helpers.js";

const stack = useLocalStack();

/** A federated user (switchUpn on) matched to a platform user whose userName and idpIdentifier are its UPN, synced once. */
async function federatedUser(immutableId: Partial<ImmutableIdConfig> = {}, others = 0) {
  const s = stack();
  const id = randomUUID();
  const users = [{ id, userPrincipalName: "dan@skolan.se" }];
  const platformUsers = [{ id: "p-dan", tenantId: "x", externalId: id, userName: "dan@skolan.se", idpIdentifier: "dan@skolan.se" }];
  for (let i = 0; i < others; i++) {
    const other = randomUUID();
    users.push({ id: other, userPrincipalName: `user${i}@school.onmicrosoft.com` });
    platformUsers.push({ id: `p-${i}`, tenantId: "x", externalId: other, userName: `user${i}@school.onmicrosoft.com`, idpIdentifier: `user${i}@school.onmicrosoft.com` });
  }
  const { tenant } = await tenantWith(s, { users, platformUsers, federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn", ...immutableId } });
  await run(s, tenant.tenantId, { only: ["update"], full: true });
  await leaveOnTemporaryUpn(s, tenant.tenantId, id, { original: "dan@skolan.se", temporary: "dan@school.onmicrosoft.com", value: b64("p-dan") });
  s.sim.control.resetStats();
  return { s, tenant, id };
}

describe("a UPN left on the temporary domain by an unfinished switchUpn", () => {
  it("is put back by a preview run, with the ImmutableId the move was for, in one PATCH", async () => {
    const { s, tenant, id } = await federatedUser({ mode: "preview" }, 2);
    const report = await run(s, tenant.tenantId);
    const dan = s.sim.control.getUser(tenant.tenantId, id)!;
    expect(dan.userPrincipalName).toBe("dan@skolan.se");
    expect(dan.onPremisesImmutableId).toBe(b64("p-dan"));
    expect(s.sim.control.stats().writes).toBe(1); // the move finished, nothing else written
    expect(report.notices.join(" ")).toMatch(/finished 1 switchUpn move\(s\) an earlier run left unfinished \(UPNs put back where still temporary, 1 with the ImmutableId/);
    const row = await s.app.connector.get(tenant.tenantId, id);
    expect(row?.upnSwitch).toBeUndefined();
    expect(row?.user.onPremisesImmutableId).toBe(b64("p-dan"));
    expect(report.immutableId?.planned).toBe(2); // the two others; Dan is done
  });

  it("stays recorded and reported while the value the move was for is taken, and is finished once it is free", async () => {
    const { s, tenant, id } = await federatedUser({ mode: "preview" }, 1);
    const other = s.sim.control.listUsers(tenant.tenantId).find((u) => u.id !== id)!;
    s.sim.control.updateUser(tenant.tenantId, other.id, { onPremisesImmutableId: b64("p-dan") });
    const report = await run(s, tenant.tenantId, { only: ["immutableId"] });
    // Entra puts a user into a federated domain only with an ImmutableId: the UPN cannot go back alone
    expect(s.sim.control.getUser(tenant.tenantId, id)).toMatchObject({ userPrincipalName: "dan@school.onmicrosoft.com", onPremisesImmutableId: null });
    const stuck = report.errors.find((e) => e.code === "IMMUTABLE_ID_UPN_RESTORE_FAILED")!;
    expect(stuck.users).toEqual([id]);
    for (const part of ["dan@school.onmicrosoft.com", "dan@skolan.se", "together with an ImmutableId"]) expect(stuck.message).toContain(part);
    expect(s.sim.control.stats().writes).toBe(0); // the refused PATCH changed nothing
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch?.value).toBe(b64("p-dan"));

    s.sim.control.updateUser(tenant.tenantId, other.id, { onPremisesImmutableId: null });
    const next = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(s.sim.control.getUser(tenant.tenantId, id)).toMatchObject({ userPrincipalName: "dan@skolan.se", onPremisesImmutableId: b64("p-dan") });
    expect(next.errors.map((e) => e.code)).not.toContain("IMMUTABLE_ID_UPN_RESTORE_FAILED");
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
  });

  it("is put back by a run over the cap, before it stops at the cap", async () => {
    const { s, tenant, id } = await federatedUser({ maxWritesPerRun: 1 }, 3);
    const report = await run(s, tenant.tenantId);
    expect(report.errors.map((e) => e.code)).toContain("IMMUTABLE_ID_CAP_EXCEEDED");
    expect(report.immutableId?.written).toBe(0);
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("dan@skolan.se");
    expect(s.sim.control.stats().writes).toBe(1); // finishing the interrupted move, and no write of the capped plan
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
  });

  it("is reported by a dry run, which changes nothing", async () => {
    const { s, tenant, id } = await federatedUser();
    const report = await run(s, tenant.tenantId, { dryRun: true });
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("dan@school.onmicrosoft.com");
    expect(s.sim.control.stats().writes).toBe(0);
    expect(report.notices.join(" ")).toMatch(new RegExp(`1 user\\(s\\) are still on the temporary UPN.*${id}`));
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch?.original).toBe("dan@skolan.se");
  });

  it("is never mapped into the platform user by update sync meanwhile", async () => {
    const { s, tenant, id } = await federatedUser();
    const update = await run(s, tenant.tenantId, { only: ["update"] });
    expect(update.update.read).toBe(1); // delta brought the temporary UPN
    const p = await s.app.directory.get(tenant.tenantId, "p-dan");
    expect(p?.userName).toBe("dan@skolan.se");
    expect(p?.idpIdentifier).toBe("dan@skolan.se");
    expect(p?.eppn).toBe("dan@skolan.se");
    // the connector space keeps what Entra shows, and the move: the next Immutable ID run puts the UPN back and writes
    expect((await s.app.connector.get(tenant.tenantId, id))?.user.userPrincipalName).toBe("dan@school.onmicrosoft.com");
    await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(s.sim.control.getUser(tenant.tenantId, id)).toMatchObject({ userPrincipalName: "dan@skolan.se", onPremisesImmutableId: b64("p-dan") });
  });

  it("is recorded by switchUpn with the value it is for, before the UPN moves", async () => {
    const s = stack();
    const id = randomUUID();
    const holder = randomUUID();
    const users = [{ id, userPrincipalName: "eva@skolan.se" }, { id: holder, userPrincipalName: "holder@school.onmicrosoft.com" }];
    const { tenant } = await tenantWith(s, { users, platformUsers: [{ id: "p-eva", tenantId: "x", externalId: id }], federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    // Entra refuses the second step (the value is taken between the steps): the move's record stays.
    let recorded: unknown;
    await immutableStep(s, tenant, {
      hooks: {
        afterMove: async () => {
          recorded = (await s.app.connector.get(tenant.tenantId, id))?.upnSwitch;
          s.sim.control.updateUser(tenant.tenantId, holder, { onPremisesImmutableId: b64("p-eva") });
        },
      },
    });
    expect(recorded).toMatchObject({ original: "eva@skolan.se", temporary: "eva@school.onmicrosoft.com", value: b64("p-eva") });
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toMatchObject({ original: "eva@skolan.se", temporary: "eva@school.onmicrosoft.com", value: b64("p-eva") });
  });

  it("holds its value: no other user is planned with it meanwhile", async () => {
    const s = stack();
    const id = randomUUID();
    const eve = randomUUID();
    const users = [{ id, userPrincipalName: "dan@skolan.se" }, { id: eve, userPrincipalName: "eve@school.onmicrosoft.com" }];
    const platformUsers = [{ id: "p-dan", tenantId: "x", externalId: id }, { id: "p-eve", tenantId: "x", externalId: eve }];
    const { tenant } = await tenantWith(s, { users, platformUsers, federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    // a move recorded for Dan with the value Eve's platform user now gives
    await leaveOnTemporaryUpn(s, tenant.tenantId, id, { original: "dan@skolan.se", temporary: "dan@school.onmicrosoft.com", value: b64("p-eve") });
    const report = await run(s, tenant.tenantId, { only: ["immutableId"], dryRun: true });
    expect(report.immutableId?.skipped.duplicateValue).toBe(1);
    const plan = await getRunPlan(s.app, tenant.tenantId, report.immutableId!.plan!.runId);
    expect(plan.map((e) => e.entraId)).not.toContain(eve);
  });
});

describe("switchUpn's two steps", () => {
  it("take their writes from the budget before the UPN moves", async () => {
    const s = stack();
    const ids = [randomUUID(), randomUUID()];
    const users = ids.map((id, i) => ({ id, userPrincipalName: `u${i}@skolan.se` }));
    const { tenant } = await tenantWith(s, { users, platformUsers: ids.map((id, i) => ({ id: `p-${i}`, tenantId: "x", externalId: id })), federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    const takes: Array<{ n: number; patchesBefore: number }> = [];
    const patches = () => s.sim.control.requestLog().filter((e) => e.method === "PATCH").length;
    s.sim.control.resetStats();
    await immutableStep(s, tenant, { writeBudget: { take: async (n) => void takes.push({ n, patchesBefore: patches() }) } });
    for (const id of ids) expect(s.sim.control.getUser(tenant.tenantId, id)?.onPremisesImmutableId).toBeTruthy();
    expect(takes).toEqual([{ n: 4, patchesBefore: 0 }]);
  });

  it("are not begun when the temporary UPN is taken in Entra (nothing sent, nothing recorded)", async () => {
    const s = stack();
    const id = randomUUID();
    const users = [{ id, userPrincipalName: "ulf@skolan.se" }];
    const { tenant } = await tenantWith(s, { users, platformUsers: [{ id: "p-ulf", tenantId: "x", externalId: id }], federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    s.sim.control.addUsers(tenant.tenantId, [{ userPrincipalName: "ulf@school.onmicrosoft.com" }]); // unknown to the connector space
    s.sim.control.resetStats();
    const report = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(report.immutableId?.failed).toEqual({ upnSwitchFailed: 1 });
    expect(s.sim.control.requestLog().filter((e) => e.method === "PATCH" && e.path.includes(id))).toEqual([]);
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("ulf@skolan.se");
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
  });

  it("report each privileged user a refused second step leaves behind, even when a whole group is refused", async () => {
    const s = stack();
    const users = Array.from({ length: 10 }, (_, i) => ({ id: randomUUID(), userPrincipalName: `admin${i}@skolan.se`, privileged: true }));
    const platformUsers = users.map((u, i) => ({ id: `p-${i}`, tenantId: "x", externalId: u.id }));
    const { tenant } = await tenantWith(s, { users, platformUsers, federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn" } });
    await run(s, tenant.tenantId, { only: ["update"] });
    const report = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(report.failure?.code).toBeUndefined(); // not taken for a missing consent: the UPN moves went through
    const stuck = report.errors.filter((e) => e.code === "IMMUTABLE_ID_UPN_RESTORE_FAILED");
    expect(stuck.flatMap((e) => e.users ?? []).sort()).toEqual(users.map((u) => u.id).sort());
    expect(stuck[0]!.message).toContain("privileged");
    for (const u of users) expect((await s.app.connector.get(tenant.tenantId, u.id))?.upnSwitch?.original).toBe(u.userPrincipalName);
  });
});
