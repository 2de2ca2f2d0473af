import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { LIFECYCLE_ROUTE } from "../notifications/upkeep.js";
import { receiveLifecycleNotifications } from "../notifications/receive.js";
import { notificationAnswer } from "./notifications-http.js";

/** `POST /api/notifications/lifecycle` (anonymous; subscription id + clientState are the gate): Graph's lifecycle notifications. */
export async function graphLifecycleHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return notificationAnswer(request, context, receiveLifecycleNotifications);
}

app.http("graphLifecycle", { methods: ["POST"], authLevel: "anonymous", route: LIFECYCLE_ROUTE, handler: graphLifecycleHandler });
