import { boundText, redact } from "./util/redact.js";

/**
 * The closed set of error codes entra-sync raises. Tests assert on codes, never on messages; messages are for
 * operators and say what to do. No message ever carries a secret value.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: "configuration",
  INPUT_INVALID: "configuration",
  TENANT_NOT_FOUND: "configuration",
  TENANT_DISABLED: "configuration",
  SECRET_MISSING: "auth",
  AUTH_SECRET_EXPIRED: "auth",
  AUTH_SECRET_INVALID: "auth",
  AUTH_APP_NOT_FOUND: "auth",
  AUTH_TENANT_NOT_FOUND: "auth",
  AUTH_APP_DISABLED: "auth",
  AUTH_CONSENT_MISSING: "auth",
  AUTH_FAILED: "auth",
  /**
   * Entra found no federated identity credential of the platform's app matching the managed identity's token
   * (issuer, subject or audience): the platform's one-time setup, not the customer's; every federated tenant fails alike.
   */
  AUTH_FEDERATION_MISMATCH: "configuration",
  /** The managed identity gave no token for the exchange audience: the platform's setup (or its endpoint) again. */
  AUTH_MANAGED_IDENTITY_FAILED: "configuration",
  GRAPH_THROTTLED: "throttled",
  GRAPH_TRANSIENT: "transient",
  GRAPH_DELTA_EXPIRED: "transient",
  GRAPH_FOREIGN_LINK: "bug",
  GRAPH_REQUEST_FAILED: "bug",
  STORAGE_CONFLICT: "transient",
  STORAGE_FAILED: "transient",
  /** Key Vault cannot be reached (network, DNS, refused, reset, timeout): trying again later can help. */
  KEY_VAULT_UNREACHABLE: "transient",
  /** Key Vault's TLS certificate is not trusted by this process: a setting to fix, not retried. */
  KEY_VAULT_UNTRUSTED: "configuration",
  /** Another run of the tenant is queued or under way: not bad input; try again when it has ended. */
  RUN_IN_PROGRESS: "transient",
  RUN_NOT_FOUND: "configuration",
  /**
   * The tenant's last update sync was held by the mass-change guard and waits for approval: not bad input; approve it
   * (`entra-sync runs approve <runId>`), run with --full, or wait for the hold to expire.
   */
  RUN_HELD: "transient",
  /** The held run cannot be approved (already approved, expired, or a later run replaced it): the message says what to do. */
  HOLD_NOT_PENDING: "configuration",
  /** The tenant's Entra has no such user (one user on demand): check the object id or UPN. */
  USER_NOT_FOUND: "configuration",
  RUN_ABANDONED: "transient",
  RUN_POISONED: "bug",
  MAIL_FAILED: "transient",
  IMMUTABLE_ID_CAP_EXCEEDED: "configuration",
  IMMUTABLE_ID_REFUSED: "configuration",
  IMMUTABLE_ID_UPN_RESTORE_FAILED: "bug",
  IMMUTABLE_ID_PLAN_CHANGED: "configuration",
  PLAN_NOT_FOUND: "configuration",
  INTERNAL: "bug",
  /** A capability needs a Graph application permission the tenant has not granted (the message names it). */
  MISSING_PERMISSION: "auth",
  REPORT_TOO_LARGE: "bug",
  DIRECTORY_INDEX_DRIFT: "bug",
  /** Another user of the tenant already holds the unique value (SCIM userName). */
  DIRECTORY_DUPLICATE: "configuration",
  /** A SCIM request refused: bad token, bad filter or body, unknown id, too large, too fast (the error carries the HTTP status). */
  SCIM_REFUSED: "configuration",
  /** Graph refused to create or renew a tenant's change notification subscription (the message says why and what to fix). */
  SUBSCRIPTION_FAILED: "configuration",
  /** A SCIM client sent requests faster than its token's rate: trying again after Retry-After helps. */
  SCIM_THROTTLED: "throttled",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
/** The class of a failure, which decides backoff and what an operator is told. */
export type ErrorClass = (typeof ERROR_CODES)[ErrorCode];

export interface EntraSyncErrorOptions {
  cause?: unknown;
  /** Whether trying again later (without any change by a person) can help. */
  retryable?: boolean;
  /** Seconds to wait before retrying, when the service said so. */
  retryAfterSeconds?: number;
  /** The input field that was wrong, for API answers. */
  field?: string;
  /** Extra facts for reports (ids, dates — never secrets). */
  details?: Record<string, unknown>;
}

/** The one error type of the app. */
export class EntraSyncError extends Error {
  override readonly name = "EntraSyncError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: EntraSyncErrorOptions = {}) {
    // Every message passes here on its way to a report, an answer, a mail or a log: mask secrets, cap the length.
    super(boundText(message), options.cause === undefined ? undefined : { cause: scrubCause(options.cause) });
    this.code = code;
    this.retryable = options.retryable ?? (ERROR_CODES[code] === "transient" || ERROR_CODES[code] === "throttled");
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.field = options.field;
    this.details = options.details;
  }

  get errorClass(): ErrorClass {
    return ERROR_CODES[this.code];
  }
}

/**
 * Masks secrets in the messages and stacks of a cause chain (an upstream error may echo a secret, and a host that
 * logs a thrown error prints its causes too). The errors keep their type and other fields.
 */
function scrubCause(cause: unknown, depth = 0): unknown {
  if (!(cause instanceof Error) || depth > 5 || cause instanceof EntraSyncError) return cause;
  try {
    const message = redact(cause.message);
    if (message !== cause.message) cause.message = message;
    if (typeof cause.stack === "string") {
      const stack = redact(cause.stack);
      if (stack !== cause.stack) cause.stack = stack;
    }
  } catch {
    /* a read-only message stays as it is; it never reaches a report (the wrapping error's message does) */
  }
  scrubCause(cause.cause, depth + 1);
  return cause;
}

/** Normalises anything thrown into an Error, keeping the original as `cause`. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : `Non-error thrown: ${safeStringify(value)}`, { cause: value });
}

/** Wraps anything thrown into an EntraSyncError (INTERNAL unless it already is one). */
export function toEntraSyncError(value: unknown, fallback: ErrorCode = "INTERNAL"): EntraSyncError {
  if (value instanceof EntraSyncError) return value;
  const e = ensureError(value);
  return new EntraSyncError(fallback, e.message, { cause: e });
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
