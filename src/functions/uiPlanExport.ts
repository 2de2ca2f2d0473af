import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { planExport } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `GET …/runs/{runId}/plan` → the Immutable ID plan of a run as CSV. */
export async function uiPlanExportHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(await planExport(getApp(), uiRequest(request), request.params.tenantId, request.params.runId));
}

app.http("uiPlanExport", { methods: ["GET"], authLevel: "anonymous", route: "ui/tenants/{tenantId}/runs/{runId}/plan", handler: uiPlanExportHandler });
