import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { runView } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `GET /api/ui/tenants/{tenantId}/runs/{runId}` → the full report of a run. */
export async function uiRunHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(await runView(getApp(), uiRequest(request), request.params.tenantId, request.params.runId));
}

app.http("uiRun", { methods: ["GET"], authLevel: "anonymous", route: "ui/tenants/{tenantId}/runs/{runId}", handler: uiRunHandler });
