import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { actionSubmit } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { uiForm, toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `POST …/actions/{action}` → a confirmed action (run now, full, dry run, unquarantine, force plan). */
export async function uiActionHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(await actionSubmit(getApp(), uiRequest(request), request.params.tenantId, request.params.action, await uiForm(request)));
}

app.http("uiAction", { methods: ["POST"], authLevel: "anonymous", route: "ui/tenants/{tenantId}/actions/{action}", handler: uiActionHandler });
