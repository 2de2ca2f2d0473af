import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { listAudit } from "../../src/audit/list.js";
import { useLocalStack } from "../support/stack.js";
import { entraUser, scimClient, serveOverHttp } from "../scim/helpers.js";

const stackOf = useLocalStack();
const served = serveOverHttp(() => stackOf().app);

describe("audit log of SCIM writes", () => {
  it("records the create and the change of a SCIM user with values, in the transactions of the writes", async () => {
    const app = stackOf().app;
    const tenantId = randomUUID();
    const { token } = await app.scimTokens.create(tenantId);
    const scim = scimClient(`${served.url()}/api/scim/v2/${tenantId}`, token);
    const externalId = randomUUID();
    const created = await scim("POST", "/Users", entraUser("anna@school.example", externalId));
    expect(created.status, created.text).toBe(201);
    const id = created.body!.id as string;
    const patched = await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "userName", value: "anna.b@school.example" }] });
    expect(patched.status, patched.text).toBe(200);

    const entries = (await listAudit(app, { tenantId, userId: id, limit: 100 })).entries;
    expect(entries.map((e) => e.source)).toEqual(["scim", "scim"]);
    expect(entries.every((e) => e.target === "platform" && e.outcome === "applied" && e.entraId === externalId)).toBe(true);
    expect(entries[0]!.changes).toContainEqual({ attribute: "userName", old: "anna@school.example", new: "anna.b@school.example" });
    expect(entries[1]!.changes).toContainEqual({ attribute: "userName", old: null, new: "anna@school.example" });
    // By the Entra object id too.
    expect((await listAudit(app, { tenantId, userId: externalId, limit: 100 })).entries.map((e) => e.id)).toEqual(entries.map((e) => e.id));
  });
});
