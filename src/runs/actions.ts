import type { ErrorClass } from "../errors.js";

const ACTIONS: Record<ErrorClass, string> = {
  auth: "Entra refused the tenant's credentials: follow the advice in the message (usually a new client secret from the customer's admin, stored with `entra-sync secret set`, or admin consent for the app); then run `entra-sync run --tenant <id>` to check.",
  throttled: "Graph throttled the tenant; nothing to do: the next run resumes from the checkpoint. If it keeps happening, raise the tenant's sync interval with `entra-sync tenant update <id> --interval <minutes>`.",
  transient: "A temporary failure of Graph or storage; nothing to do: the next run resumes from the checkpoint. If it persists, check the service health of Microsoft Graph and the storage account.",
  configuration: "The tenant's registration or the app's settings are wrong: fix what the message names with `entra-sync tenant update` (or the app settings) and run `entra-sync run --tenant <id>`.",
  bug: "An unexpected failure in entra-sync: report it with the run id and the logs; the next run resumes from the checkpoint.",
};

/** What an operator should do about a failure of this class (the message names the specific cause). */
export function actionFor(errorClass: string, tenantId?: string): string {
  const text = ACTIONS[errorClass as ErrorClass] ?? ACTIONS.bug;
  return tenantId ? text.split("<id>").join(tenantId) : text;
}
