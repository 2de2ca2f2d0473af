import { fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpHost, type HttpHost } from "../../dev/http-host.js";
import { provideApp } from "../../src/functions/app.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
let host: HttpHost;

beforeAll(async () => {
  provideApp(stackOf().app);
  host = await startHttpHost({ functionKey: "local-test-key-0123456789" });
});
afterAll(async () => {
  await host?.close();
  provideApp(undefined);
});

describe("the local HTTP host (npm run stack)", () => {
  it("serves every HTTP function of src/functions under /api/ on 127.0.0.1", () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect([...host.routes].sort()).toEqual(
      [
        "GET /api/health (anonymous)",
        "GET /api/tenants (function)",
        "GET /api/tenants/{tenantId}/check (function)",
        "GET /api/tenants/{tenantId}/runs (function)",
        "GET /api/tenants/{tenantId}/runs/{runId} (function)",
        "GET /api/tenants/{tenantId}/runs/{runId}/plan (function)",
        "POST /api/tenants/{tenantId}/runs (function)",
        "POST /api/tenants/{tenantId}/users/{user}/sync (function)",
        "POST /api/runs/{runId}/approve (function)",
        "GET /api/scim/v2/{tenantId}/{resource} (anonymous)",
        "GET /api/scim/v2/{tenantId}/{resource}/{id} (anonymous)",
        "POST /api/scim/v2/{tenantId}/{resource} (anonymous)",
        "PATCH /api/scim/v2/{tenantId}/{resource}/{id} (anonymous)",
        "PUT /api/scim/v2/{tenantId}/{resource}/{id} (anonymous)",
        "DELETE /api/scim/v2/{tenantId}/{resource}/{id} (anonymous)",
        "POST /api/notifications/users (anonymous)",
        "POST /api/notifications/lifecycle (anonymous)",
        "GET /api/tenants/{tenantId}/audit (function)",
        "GET /api/ui (anonymous)",
        "GET /api/ui/assets/{name} (anonymous)",
        "GET /api/ui/sign-in (anonymous)",
        "POST /api/ui/sign-in (anonymous)",
        "GET /api/ui/tenants/{tenantId} (anonymous)",
        "GET /api/ui/tenants/{tenantId}/confirm/{action} (anonymous)",
        "POST /api/ui/tenants/{tenantId}/actions/{action} (anonymous)",
        "GET /api/ui/tenants/{tenantId}/runs/{runId} (anonymous)",
        "GET /api/ui/tenants/{tenantId}/runs/{runId}/plan (anonymous)",
      ].sort(),
    );
  });

  it("answers /api/health without a key", async () => {
    const r = await fetch(`${host.url}/api/health`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: "ok" });
  });

  it("refuses a function-level route without the key or with a wrong one: 401", async () => {
    expect((await fetch(`${host.url}/api/tenants`)).status).toBe(401);
    expect((await fetch(`${host.url}/api/tenants`, { headers: { "x-functions-key": "wrong" } })).status).toBe(401);
    expect((await fetch(`${host.url}/api/tenants?code=wrong`)).status).toBe(401);
  });

  it("starts a run with the key in the header and reads it back with the key in ?code=", async () => {
    const stack = stackOf();
    const { users, platformUsers } = simpleDirectory(2);
    const { tenant } = await onboard(stack, { users, platformUsers });
    const started = await fetch(`${host.url}/api/tenants/${tenant.tenantId}/runs`, {
      method: "POST",
      headers: { "x-functions-key": host.functionKey, "content-type": "application/json" },
      body: JSON.stringify({ dryRun: true }),
    });
    expect(started.status).toBe(202);
    const { runId, status } = (await started.json()) as { runId: string; status: string };
    expect(status).toBe("queued");
    const location = started.headers.get("location");
    expect(location).toBe(`/api/tenants/${tenant.tenantId}/runs/${runId}`);

    const run = await fetch(`${host.url}${location}?code=${encodeURIComponent(host.functionKey)}`);
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ runId, status: "queued", dryRun: true, trigger: "manual" });
    // The handlers' own answers come through unchanged: a second start while the first is queued is refused.
    const busy = await fetch(`${host.url}/api/tenants/${tenant.tenantId}/runs`, { method: "POST", headers: { "x-functions-key": host.functionKey } });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe("RUN_IN_PROGRESS");
  });

  it("answers an unknown route, and a known route with a method it was not registered for, with 404 as the host does", async () => {
    const key = { "x-functions-key": host.functionKey };
    expect((await fetch(`${host.url}/api/nothing-here`, { headers: key })).status).toBe(404);
    expect((await fetch(`${host.url}/health`)).status).toBe(404);
    expect((await fetch(`${host.url}/api/tenants`, { method: "DELETE", headers: key })).status).toBe(404);
    expect((await fetch(`${host.url}/api/health`, { method: "POST" })).status).toBe(404);
  });
});
