import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { requestRun } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `POST /api/tenants/{tenantId}/runs` → 202 with the run id and its status URL; 404, 409, 400 as the README says. */
export async function startRunHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const r = await requestRun(getApp(), request.params.tenantId, await request.text());
  context.log(`startRun ${request.params.tenantId ?? ""} → ${r.status}`);
  return toHttp(r);
}

app.http("startRun", { methods: ["POST"], authLevel: "function", route: "tenants/{tenantId}/runs", handler: startRunHandler });
