import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";
import { requestUserSync } from "./user-sync-api.js";

/** `POST /api/tenants/{tenantId}/users/{user}/sync` → 200 with each step of one user's sync; 400, 404, 409. */
export async function syncUserHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const r = await requestUserSync(getApp(), request.params.tenantId, request.params.user, await request.text());
  context.log(`syncUser ${request.params.tenantId ?? ""} → ${r.status}`);
  return toHttp(r);
}

app.http("syncUser", { methods: ["POST"], authLevel: "function", route: "tenants/{tenantId}/users/{user}/sync", handler: syncUserHandler });
