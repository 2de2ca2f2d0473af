import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { NOTIFICATION_ROUTE } from "../notifications/upkeep.js";
import { receiveNotifications } from "../notifications/receive.js";
import { notificationAnswer } from "./notifications-http.js";

/** `POST /api/notifications/users` (anonymous; subscription id + clientState are the gate): Graph's change notifications → one queued run per tenant. */
export async function graphNotificationsHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return notificationAnswer(request, context, receiveNotifications);
}

app.http("graphNotifications", { methods: ["POST"], authLevel: "anonymous", route: NOTIFICATION_ROUTE, handler: graphNotificationsHandler });
