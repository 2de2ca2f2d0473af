/**
 * The SCIM step of `npm start`: serves the HTTP functions on 127.0.0.1 (dev/http-host.ts), makes a Secret Token for a
 * new tenant, and plays what Entra's provisioning service sends — Test Connection's probe, matching queries, creates,
 * PATCHes in both dialects, a group with members, a deactivation and a delete — then prints what the platform
 * directory holds.
 */
import { randomUUID } from "node:crypto";
import { fetch } from "undici";
import { table } from "../../src/cli/format.js";
import { provideApp } from "../../src/functions/app.js";
import { startHttpHost } from "../http-host.js";
import type { LocalStack } from "../stack.js";

const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

export async function scimDemo(stack: LocalStack, say: (line: string) => void): Promise<{ users: number; inactive: number; removed: number }> {
  provideApp(stack.app);
  const host = await startHttpHost();
  try {
    const tenantId = randomUUID();
    const { token } = await stack.app.scimTokens.create(tenantId);
    const base = `${host.url}/api/scim/v2/${tenantId}`;
    say(`  Tenant URL ${base} (Secret Token made with the code of "entra-sync scim token create")`);
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const text = await r.text();
      say(`  ${method.padEnd(6)} ${decodeURIComponent(path).slice(0, 90).padEnd(90)} → ${r.status}`);
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    };
    await call("GET", `/Users?filter=${encodeURIComponent(`userName eq "${randomUUID()}"`)}`);
    const people = [
      ["ada.lovelace", "Ada", "Lovelace"],
      ["alan.turing", "Alan", "Turing"],
      ["grace.hopper", "Grace", "Hopper"],
    ] as const;
    const ids: string[] = [];
    for (const [nick, given, family] of people) {
      const userName = `${nick}@school.example`;
      const externalId = randomUUID();
      await call("GET", `/Users?filter=${encodeURIComponent(`externalId eq ${externalId}`)}`);
      const u = await call("POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], externalId, userName, active: true, emails: [{ primary: true, type: "work", value: userName }], meta: { resourceType: "User" }, name: { formatted: `${given} ${family}`, givenName: given, familyName: family }, roles: [], [ENTERPRISE]: { department: "Maths" } });
      ids.push(u.id as string);
    }
    // Entra's default dialect: capitalised ops, one per attribute, "False" as a string.
    await call("PATCH", `/Users/${ids[0]}`, { schemas: [PATCH], Operations: [{ op: "Replace", path: "name.givenName", value: "Augusta Ada" }, { op: "Replace", path: `${ENTERPRISE}:department`, value: "Computing" }] });
    await call("PATCH", `/Users/${ids[1]}`, { schemas: [PATCH], Operations: [{ op: "Replace", path: "active", value: "False" }] });
    // The compliant dialect (?aadOptscim062020): lowercase ops, a path-less replace with dotted keys.
    await call("PATCH", `/Users/${ids[2]}?aadOptscim062020`, { schemas: [PATCH], Operations: [{ op: "replace", value: { "name.familyName": "Murray Hopper", displayName: "Grace Murray Hopper" } }] });
    const g = await call("POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "Teachers", members: [] });
    await call("PATCH", `/Groups/${g.id as string}`, { schemas: [PATCH], Operations: [{ op: "Add", path: "members", value: ids.map((value) => ({ value })) }] });
    await call("PATCH", `/Groups/${g.id as string}`, { schemas: [PATCH], Operations: [{ op: "Remove", path: "members", value: [{ value: ids[1] }] }] });
    await call("PATCH", `/Groups/${g.id as string}?aadOptscim062020`, { schemas: [PATCH], Operations: [{ op: "remove", path: `members[value eq "${ids[2]}"]` }] });
    await call("DELETE", `/Users/${ids[2]}`);

    const rows: string[][] = [];
    let inactive = 0;
    let removed = 0;
    for await (const u of stack.app.directory.list(tenantId)) {
      if (u.inactiveAt) inactive++;
      if (u.entraRemovedAt) removed++;
      rows.push([u.userName ?? "", `${u.firstName ?? ""} ${u.lastName ?? ""}`.trim(), u.email ?? "", u.externalId?.slice(0, 8) ?? "", u.inactiveAt ? "inactive" : "active", u.entraRemovedAt ? `removed (${u.entraRemovedReason})` : "—"]);
    }
    say(`  The platform directory now holds (tenant ${tenantId}):`);
    say(table(["userName", "name", "email", "externalId", "state", "removed"], rows.sort()).replace(/^/gm, "    "));
    const group = await call("GET", `/Groups/${g.id as string}`);
    say(`  Group "Teachers" members: ${((group.members as Array<{ value: string }> | undefined) ?? []).map((m) => m.value.slice(0, 8)).join(", ")}`);
    return { users: rows.length, inactive, removed };
  } finally {
    await host.close();
    provideApp(undefined);
  }
}
