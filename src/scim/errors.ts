import { EntraSyncError } from "../errors.js";

/** RFC 7644 §3.12 `scimType` values this endpoint answers with. */
export type ScimType = "invalidFilter" | "invalidSyntax" | "invalidPath" | "invalidValue" | "noTarget" | "uniqueness" | "mutability" | "tooMany";

/**
 * A refused SCIM request: the HTTP status and `scimType` of its SCIM error body, and a `detail` (the message) that
 * says what to fix. Entra shows the detail in its provisioning logs, so it never carries a token or a stack.
 */
export class ScimError extends EntraSyncError {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  constructor(status: number, detail: string, scimType?: ScimType, o: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(status === 429 ? "SCIM_THROTTLED" : "SCIM_REFUSED", detail, { ...o, retryable: status === 429 || status === 412 });
    this.status = status;
    this.scimType = scimType;
  }
}

export const badRequest = (detail: string, scimType: ScimType = "invalidSyntax") => new ScimError(400, detail, scimType);
export const notFound = (what: string) => new ScimError(404, `${what} not found.`);
