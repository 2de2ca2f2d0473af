import { z } from "zod";
import type { App } from "../composition.js";
import { EntraSyncError } from "../errors.js";
import { parseUserKey, syncOneUser } from "../runs/one-user.js";
import { parseGuid } from "../tenants/model.js";
import { errorAnswer, type ApiResponse } from "./api.js";

const bodySchema = z.object({ dryRun: z.boolean().default(false) }).strict();

/**
 * `POST /api/tenants/{tenantId}/users/{user}/sync` body `{ "dryRun": false }` (optional): syncs one Entra user (object
 * id or UPN) now and answers 200 with each step; 400 bad input, 404 unknown tenant or user, 409 a run under way.
 */
export async function requestUserSync(app: App, tenantIdParam: unknown, userParam: unknown, bodyText: string): Promise<ApiResponse> {
  try {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const user = parseUserKey(typeof userParam === "string" && /%[0-9a-f]{2}/i.test(userParam) ? safeDecode(userParam) : userParam);
    let value: unknown = {};
    if (bodyText.length > 4096) throw new EntraSyncError("INPUT_INVALID", "The body is larger than 4096 bytes: send {} or {\"dryRun\":true}.", { field: "body" });
    if (bodyText.trim() !== "") {
      try {
        value = JSON.parse(bodyText);
      } catch {
        throw new EntraSyncError("INPUT_INVALID", 'The body is not JSON: send {} or {"dryRun":true}.', { field: "body" });
      }
    }
    const body = bodySchema.safeParse(value);
    if (!body.success) throw new EntraSyncError("INPUT_INVALID", 'The body takes one optional field: "dryRun" (true or false).', { field: String(body.error.issues[0]?.path[0] ?? "body") });
    const result = await syncOneUser(app, { tenantId, user, dryRun: body.data.dryRun });
    return { status: 200, body: result };
  } catch (e) {
    return errorAnswer(e);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
