import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { confirmView } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `GET …/confirm/{action}` → the confirmation step of an action (changes nothing). */
export async function uiConfirmHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(await confirmView(getApp(), uiRequest(request), request.params.tenantId, request.params.action));
}

app.http("uiConfirm", { methods: ["GET"], authLevel: "anonymous", route: "ui/tenants/{tenantId}/confirm/{action}", handler: uiConfirmHandler });
