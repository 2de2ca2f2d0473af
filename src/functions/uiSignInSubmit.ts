import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { signInSubmit } from "../ui/status-page.js";
import { getApp } from "./app.js";
import { uiForm, toUiHttp, uiRequest } from "./ui-http.js";

/** Status page: `POST /api/ui/sign-in` → checks the local key, sets the session cookie. */
export async function uiSignInSubmitHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toUiHttp(signInSubmit(getApp(), uiRequest(request), await uiForm(request)));
}

app.http("uiSignInSubmit", { methods: ["POST"], authLevel: "anonymous", route: "ui/sign-in", handler: uiSignInSubmitHandler });
