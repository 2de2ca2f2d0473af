import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { signInView } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `GET /api/ui/sign-in` → the local sign-in form (or Entra ID sign-in in Azure). */
export async function uiSignInHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(signInView(getApp(), uiRequest(request)));
}

app.http("uiSignIn", { methods: ["GET"], authLevel: "anonymous", route: "ui/sign-in", handler: uiSignInHandler });
