import { describe, expect, it } from "vitest";
import type { RunReport } from "../../src/runs/report.js";
import { pauseAt } from "../../src/tenants/school-year.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { cliInProcess } from "../support/cli-local.js";

const stackOf = useLocalStack();

const local = cliInProcess(() => stackOf().app);

const day = (d: Date) => d.toISOString().slice(5, 10);

describe("school-year pause windows", () => {
  it("a window is inclusive and may wrap the year end", () => {
    const winter = { pauses: [{ from: "12-20", to: "01-06" }], readsDuringPause: true };
    expect(pauseAt(winter, new Date("2027-01-06T23:00:00Z"))).toEqual({ from: "12-20", to: "01-06" });
    expect(pauseAt(winter, new Date("2026-12-20T00:00:00Z"))).toBeDefined();
    expect(pauseAt(winter, new Date("2027-01-07T00:00:00Z"))).toBeUndefined();
    const summer = { pauses: [{ from: "06-15", to: "08-10" }], readsDuringPause: true };
    expect(pauseAt(summer, new Date("2027-07-01T12:00:00Z"))).toBeDefined();
    expect(pauseAt(summer, new Date("2027-08-11T00:00:00Z"))).toBeUndefined();
  });

  it("in a pause a run writes nothing (reads as a dry run, or is skipped); --pause none lifts it", async () => {
    const s = stackOf();
    const { users, platformUsers } = simpleDirectory(3);
    const { tenant } = await onboard(s, { users, platformUsers, registration: { immutableId: { mode: "off" } } });
    const id = tenant.tenantId;
    expect((await local(["run", "--tenant", id])).code).toBe(0);
    s.sim.control.updateUser(id, users[0]!.id, { city: "Kiruna" });
    const now = Date.now();
    const window = `${day(new Date(now - 86_400_000))}..${day(new Date(now + 86_400_000))}`;
    let r = await local(["tenant", "update", id, "--pause", window, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).schoolYear).toEqual({ pauses: [{ from: window.slice(0, 5), to: window.slice(7) }], readsDuringPause: true });
    expect((await local(["tenant", "update", id, "--pause", "summer"])).err).toMatch(/^error INPUT_INVALID: --pause takes MM-DD\.\.MM-DD/);

    r = await local(["run", "--tenant", id, "--json"]);
    let report = JSON.parse(r.out) as RunReport;
    expect(report).toMatchObject({ status: "succeeded", dryRun: true, update: { read: 1, updated: 1 } });
    expect(report.notices.join(" ")).toMatch(/School-year pause .* writes nothing/);
    expect((await s.app.directory.get(id, platformUsers[0]!.id))?.city).toBe("Lund");

    r = await local(["tenant", "update", id, "--reads-during-pause", "false", "--json"]);
    expect(JSON.parse(r.out).schoolYear.pauses).toHaveLength(1); // kept
    report = JSON.parse((await local(["run", "--tenant", id, "--json"])).out) as RunReport;
    expect(report).toMatchObject({ status: "skipped", update: { read: 0 } });
    // A mapping change asks for a full read; a skipped run reads nothing and says the full read waits for the pause.
    expect((await local(["tenant", "update", id, "--mapping", '{"eppn":["extensionAttribute2"]}'])).code).toBe(0);
    report = JSON.parse((await local(["run", "--tenant", id, "--json"])).out) as RunReport;
    expect(report.status).toBe("skipped");
    expect(report.notices.join(" ")).not.toMatch(/reads every user/);
    expect(report.notices.join(" ")).toMatch(/full read the mapping change asked for runs after the pause/);

    expect((await local(["tenant", "update", id, "--pause", "none"])).code).toBe(0);
    report = JSON.parse((await local(["run", "--tenant", id, "--json"])).out) as RunReport;
    // The first run after the pause is the full read the mapping change asked for: every user gets the new eppn.
    expect(report).toMatchObject({ status: "succeeded", dryRun: false, mode: "full", update: { updated: 3 } });
    expect((await s.app.directory.get(id, platformUsers[0]!.id))?.city).toBe("Kiruna");
  });
});
