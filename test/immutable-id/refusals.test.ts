import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newGraphCounters } from "../../src/graph/client.js";
import type { GraphAnswer as BatchAnswer } from "../../src/graph/tenant-graph.js";
import { classifyWriteFailure } from "../../src/immutable-id/writer.js";
import { useLocalStack } from "../support/stack.js";
import { b64, tenantWith } from "./helpers.js";

const stack = useLocalStack({ simulator: { latencyMs: 0 } });

/** Graph's own answer to setting the ImmutableId of a user whose UPN is in a federated domain. */
async function federatedRefusal(): Promise<BatchAnswer> {
  const s = stack();
  const id = randomUUID();
  const { tenant } = await tenantWith(s, { users: [{ id, userPrincipalName: "anna@skolan.se" }], platformUsers: [{ id: "p-anna", tenantId: "x", externalId: id }], federatedDomains: ["skolan.se"] });
  const counters = newGraphCounters();
  const { graph } = s.app.graphFor(tenant, await s.app.secrets.get(tenant.tenantId), counters);
  const answers = await graph.patchUsers([{ key: id, userId: id, changes: { onPremisesImmutableId: b64("p-anna") } }], { pacer: { take: async () => {} }, verifyLost: false });
  return answers.get(id)!;
}

describe("refusals of ImmutableId writes are told apart by status, code and context, not by wording", () => {
  it("a federated-domain refusal is known by the user's federated UPN, whatever the message says", async () => {
    const real = await federatedRefusal();
    expect(real.status).toBe(400);
    expect(real.body?.error?.code).toBe("Request_BadRequest");
    expect(classifyWriteFailure(real, { federatedUpn: true }).reason).toBe("federatedDomain");
    const reworded: BatchAnswer = { ...real, body: { error: { ...real.body!.error!, message: "The operation could not be completed for this object." } } };
    expect(classifyWriteFailure(reworded, { federatedUpn: true }).reason).toBe("federatedDomain");
  });

  it("the same code for a user in a managed domain is not called a federated-domain refusal", async () => {
    const real = await federatedRefusal();
    expect(classifyWriteFailure(real, { federatedUpn: false }).reason).not.toBe("federatedDomain");
    expect(classifyWriteFailure(real).reason).not.toBe("federatedDomain");
  });
});
