import { redact, registerSecret } from "./util/redact.js";

/** Structured log sink used by every use case. Functions adapt it to InvocationContext; the CLI to the console. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Registers a secret value process-wide so that loggers made by `redactingLogger`, error messages, run reports,
 * API answers and mails mask it in every encoding (see util/redact.ts). Defence in depth: secret values are never
 * passed to any of them on purpose.
 */
export function registerSecretValue(value: string): void {
  registerSecret(value);
}


function line(message: string, fields?: Record<string, unknown>): string {
  if (!fields || Object.keys(fields).length === 0) return redact(message);
  return redact(`${message} ${JSON.stringify(fields)}`);
}

/** Wraps plain line writers (console, context.log …) into a Logger that masks registered secrets. */
export function redactingLogger(write: { info(l: string): void; warn(l: string): void; error(l: string): void }): Logger {
  return {
    info: (m, f) => write.info(line(m, f)),
    warn: (m, f) => write.warn(line(m, f)),
    error: (m, f) => write.error(line(m, f)),
  };
}

export const consoleLogger: Logger = redactingLogger({
  info: (l) => console.error(l),
  warn: (l) => console.error(l),
  error: (l) => console.error(l),
});

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * A logger that keeps every line exactly as written, without masking, so that tests which scan it for secret
 * values see a leak instead of a redacted copy.
 */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (m: string, f?: Record<string, unknown>) => lines.push(`${level} ${f ? `${m} ${JSON.stringify(f)}` : m}`);
  return { info: rec("INFO"), warn: rec("WARN"), error: rec("ERROR"), lines };
}
