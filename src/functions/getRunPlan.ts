import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getPlan } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `GET /api/tenants/{tenantId}/runs/{runId}/plan[?format=csv]` → the run's Immutable ID plan. */
export async function getRunPlanHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const format = request.query.get("format") ?? (/text\/csv/i.test(request.headers.get("accept") ?? "") ? "csv" : null);
  return toHttp(await getPlan(getApp(), request.params.tenantId, request.params.runId, format));
}

app.http("getRunPlan", { methods: ["GET"], authLevel: "function", route: "tenants/{tenantId}/runs/{runId}/plan", handler: getRunPlanHandler });
