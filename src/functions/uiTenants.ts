import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { tenantsView } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `GET /api/ui` → every tenant at a glance (sortable, filterable, paged). */
export async function uiTenantsHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(await tenantsView(getApp(), uiRequest(request)));
}

app.http("uiTenants", { methods: ["GET"], authLevel: "anonymous", route: "ui", handler: uiTenantsHandler });
