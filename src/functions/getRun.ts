import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getRun } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `GET /api/tenants/{tenantId}/runs/{runId}` → the run report, live while the run works. */
export async function getRunHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toHttp(await getRun(getApp(), request.params.tenantId, request.params.runId));
}

app.http("getRun", { methods: ["GET"], authLevel: "function", route: "tenants/{tenantId}/runs/{runId}", handler: getRunHandler });
