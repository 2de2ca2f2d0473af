import { describe, expect, it } from "vitest";
import type { Client } from "@microsoft/microsoft-graph-client";
import { newGraphCounters } from "../../src/graph/client.js";
import { classifyGraphError } from "../../src/graph/errors.js";
import { executeBatch } from "../../src/graph/batch.js";
import { sdkClientOf } from "../support/sdk-client.js";
import type { Tenant } from "../../src/tenants/model.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

/**
 * Microsoft's guidance: when an answer carries Retry-After (429, and 503 too), wait at least that long before the
 * retry. Checked here on every path a request can take: the SDK's retry handler (429/503/504), our own retry of
 * GETs on 500/502, a `$batch` refused as a whole, and one request inside a `$batch`.
 */
const stack = useLocalStack({ simulator: { latencyMs: 0 } });

async function setup(): Promise<{ tenant: Tenant; ids: string[]; client: Client; counters: ReturnType<typeof newGraphCounters> }> {
  const s = stack();
  const { users, platformUsers } = simpleDirectory(3);
  const { tenant } = await onboard(s, { users, platformUsers });
  const counters = newGraphCounters();
  const client = sdkClientOf(s.app.graphFor(tenant, await s.app.secrets.get(tenant.tenantId), counters).graph);
  return { tenant, ids: users.map((u) => u.id), client, counters };
}

/** The gap in ms between the first answer with `status` to a request matching `path` and the next attempt. */
function gapAfter(tenantId: string, path: string, status: number, method = "GET"): number {
  const log = stack()
    .sim.control.requestLog()
    .filter((e) => e.tenantId === tenantId && e.method === method && e.path.includes(path));
  const i = log.findIndex((e) => e.status === status);
  expect(i, `a ${status} answer to ${path}`).toBeGreaterThanOrEqual(0);
  const next = log[i + 1];
  expect(next, `a retry of ${path}`).toBeDefined();
  return Date.parse(next!.ts) - Date.parse(log[i]!.ts);
}

describe("Retry-After is honoured on 429 and 503, inside $batch too", () => {
  it("a request inside $batch answered 503 with Retry-After is retried no sooner", async () => {
    const { tenant, ids, client, counters } = await setup();
    stack().sim.control.injectFault({ method: "GET", path: `/users/${ids[0]}`, status: 503, headers: { "Retry-After": "2" } });
    const answers = await executeBatch(
      ids.map((id) => ({ id, method: "GET" as const, url: `/users/${id}?$select=id` })),
      { client, tenant: { tenantId: tenant.tenantId, clientId: tenant.clientId }, counters },
    );
    expect([...answers.values()].map((a) => a.status)).toEqual([200, 200, 200]);
    expect(gapAfter(tenant.tenantId, `/users/${ids[0]}`, 503)).toBeGreaterThanOrEqual(1_900);
  });

  it("a $batch refused as a whole with 503 and Retry-After is resent no sooner", async () => {
    const { tenant, ids, client, counters } = await setup();
    stack().sim.control.injectFault({ method: "POST", path: "/$batch", tenantId: tenant.tenantId, status: 503, headers: { "Retry-After": "2" } });
    const answers = await executeBatch(
      ids.map((id) => ({ id, method: "GET" as const, url: `/users/${id}?$select=id` })),
      { client, tenant: { tenantId: tenant.tenantId, clientId: tenant.clientId }, counters },
    );
    expect([...answers.values()].map((a) => a.status)).toEqual([200, 200, 200]);
    expect(gapAfter(tenant.tenantId, "/$batch", 503, "POST")).toBeGreaterThanOrEqual(1_900);
  });

  it.each([503, 502, 500])("a GET answered %i with Retry-After is retried no sooner", async (status) => {
    const { tenant, ids, client, counters } = await setup();
    stack().sim.control.injectFault({ method: "GET", path: `/users/${ids[1]}`, status, headers: { "Retry-After": "2" } });
    const user = (await client.api(`/users/${ids[1]}`).select("id").get()) as { id: string };
    expect(user.id).toBe(ids[1]);
    expect(counters.retried).toBeGreaterThanOrEqual(1);
    expect(gapAfter(tenant.tenantId, `/users/${ids[1]}`, status)).toBeGreaterThanOrEqual(1_900);
  });

  it("a Retry-After longer than the SDK would wait is not cut short: the answer is handed back, classified, with the wait", async () => {
    const { tenant, ids, client } = await setup();
    stack().sim.control.injectFault({ method: "GET", path: `/users/${ids[2]}`, status: 429, headers: { "Retry-After": "600" } });
    let caught: unknown;
    try {
      await client.api(`/users/${ids[2]}`).get();
    } catch (e) {
      caught = classifyGraphError(e, tenant, "read a user");
    }
    expect(caught).toMatchObject({ code: "GRAPH_THROTTLED", retryAfterSeconds: 600 });
    const sent = stack()
      .sim.control.requestLog()
      .filter((e) => e.tenantId === tenant.tenantId && e.path.includes(`/users/${ids[2]}`));
    expect(sent).toHaveLength(1);
  });
});
