import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { tenantView } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `GET /api/ui/tenants/{tenantId}` → run history, chart, last report, plan, errors. */
export async function uiTenantHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(await tenantView(getApp(), uiRequest(request), request.params.tenantId));
}

app.http("uiTenant", { methods: ["GET"], authLevel: "anonymous", route: "ui/tenants/{tenantId}", handler: uiTenantHandler });
