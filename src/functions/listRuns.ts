import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { listRuns } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `GET /api/tenants/{tenantId}/runs?limit=` → the tenant's recent runs, newest first. */
export async function listRunsHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toHttp(await listRuns(getApp(), request.params.tenantId, request.query.get("limit")));
}

app.http("listRuns", { methods: ["GET"], authLevel: "function", route: "tenants/{tenantId}/runs", handler: listRunsHandler });
