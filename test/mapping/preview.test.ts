import { describe, expect, it } from "vitest";
import type { MappingPreview } from "../../src/mapping/preview.js";
import type { RunReport } from "../../src/runs/report.js";
import { cliProcess } from "../support/cli-process.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { cliInProcess } from "../support/cli-local.js";

const stackOf = useLocalStack();

const local = cliInProcess(() => stackOf().app);

describe("mapping preview, partial --mapping and the full resync a mapping change schedules", () => {
  it("previews a proposed mapping beside today's, merges it on update, and the next run reads every user by itself", async () => {
    const s = stackOf();
    const { users, platformUsers } = simpleDirectory(6);
    users.forEach((u, i) => Object.assign(u, { onPremisesExtensionAttributes: { extensionAttribute2: `eppn${i}@idp.example` } }));
    platformUsers.forEach((p) => Object.assign(p, { idpIdentifier: p.userName, eppn: p.email }));
    const { tenant } = await onboard(s, { users, platformUsers, registration: { immutableId: { mode: "off" } } });
    const id = tenant.tenantId;
    let r = await local(["run", "--tenant", id, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as RunReport).update.unchanged).toBe(6);

    // The preview reads only: proposed values beside today's and the platform's.
    r = await local(["mapping", "preview", "--tenant", id, "--mapping", '{"eppn":["extensionAttribute2"]}', "--sample", "4", "--json"]);
    expect(r.code, r.err).toBe(0);
    const p = JSON.parse(r.out) as MappingPreview;
    expect(p.sampled).toBe(4);
    expect(p.changes).toEqual({ eppn: 4 });
    expect(p.proposed).toEqual({ ...tenant.mapping, eppn: ["extensionAttribute2"] });
    const u = p.users[0]!;
    const i = users.findIndex((x) => x.id === u.entraId);
    expect(u.attributes.find((a) => a.attribute === "eppn")).toEqual({ attribute: "eppn", platform: `user${i}@school.example`, today: `user${i}@school.example`, todaySource: "mail", proposed: `eppn${i}@idp.example`, proposedSource: "extensionAttribute2", changed: true });
    expect(u.attributes.find((a) => a.attribute === "userName")?.changed).toBe(false);
    expect((await s.app.directory.get(id, platformUsers[i]!.id))?.eppn).toBe(`user${i}@school.example`);

    const text = await cliProcess(s, ["mapping", "preview", "--tenant", id, "--mapping", '{"eppn":["extensionAttribute2"]}', "--sample", "2"]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/would change: eppn for 2/);
    expect(text.out).toMatch(/eppn\s+user\d@school\.example\s+user\d@school\.example \(mail\)\s+eppn\d@idp\.example \(extensionAttribute2\)\s+CHANGES/);

    // A bad source is refused with the allowed ones; nothing is stored.
    r = await local(["tenant", "update", id, "--mapping", '{"eppn":["surname"]}']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/"surname" is not a source mapping\.eppn can use; allowed: mail, otherMails, userPrincipalName, extensionAttribute1/);

    // Partial --mapping merges with the stored mapping and schedules a full resync.
    r = await local(["tenant", "update", id, "--mapping", '{"eppn":["extensionAttribute2"]}', "--json"]);
    expect(r.code, r.err).toBe(0);
    const updated = JSON.parse(r.out);
    expect(updated.mapping).toEqual({ ...tenant.mapping, eppn: ["extensionAttribute2"] });
    expect(updated.fullResync).toMatchObject({ reason: "mappingChanged" });

    // Nothing changed in Entra, yet the next (incremental) run reads every user and gives them the new values.
    r = await local(["run", "--tenant", id, "--json"]);
    expect(r.code, r.err).toBe(0);
    const full = JSON.parse(r.out) as RunReport;
    expect(full).toMatchObject({ mode: "full", progress: { round: "initial" }, update: { read: 6, updated: 6 } });
    expect(full.notices.join(" ")).toMatch(/attribute mapping changed/);
    expect((await s.app.directory.get(id, platformUsers[i]!.id))?.eppn).toBe(`eppn${i}@idp.example`);
    expect((await s.app.tenants.require(id)).fullResync).toBeUndefined();

    // Done once: the run after is incremental again; the same mapping again schedules nothing.
    r = await local(["tenant", "update", id, "--mapping", '{"eppn":["extensionAttribute2"]}', "--json"]);
    expect(JSON.parse(r.out).fullResync).toBeUndefined();
    r = await local(["run", "--tenant", id, "--json"]);
    expect(JSON.parse(r.out)).toMatchObject({ mode: "incremental", update: { read: 0 } });
  });
});
