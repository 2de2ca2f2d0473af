import { readFileSync } from "node:fs";

/** One row of the README's functions table. */
export interface DocumentedFunction {
  trigger: string;
  target: string;
  auth: string;
}

/** The functions table of the README: name → [trigger, schedule/route/queue, auth level]. */
export function documentedFunctions(readmePath = "README.md"): Map<string, DocumentedFunction> {
  const readme = readFileSync(readmePath, "utf8");
  const start = readme.indexOf("### Functions");
  const md = readme.slice(start, readme.indexOf("\n### ", start + 5));
  const out = new Map<string, DocumentedFunction>();
  for (const line of md.split("\n")) {
    const m = /^\| `(\w+)` \| ([^|]+) \| `([^`]+)` \| ([^|]+) \|/.exec(line);
    if (m) out.set(m[1]!, { trigger: m[2]!.trim(), target: m[3]!, auth: m[4]!.trim() });
  }
  return out;
}

/** A function as `@azure/functions` hands it to the host's `registerFunction`. */
export interface RegisteredFunction {
  name: string;
  bindings: Record<string, { type: string; direction: string; [k: string]: unknown }>;
}

/** What differs between registrations and the README's table, one line per difference (empty: they agree). */
/** The connection every queue trigger reads (the README says so above its function table). */
const queueConnection = "APP_STORAGE";

export function differencesFromReadme(registered: readonly RegisteredFunction[], docs: Map<string, DocumentedFunction>): string[] {
  const out: string[] = [];
  const names = new Set(registered.map((r) => r.name));
  for (const name of docs.keys()) if (!names.has(name)) out.push(`${name}: documented but not registered`);
  for (const r of registered) {
    const doc = docs.get(r.name);
    if (!doc) {
      out.push(`${r.name}: registered but not documented`);
      continue;
    }
    const t = Object.values(r.bindings).find((b) => b.direction === "in" && /Trigger$/.test(b.type));
    const got = !t
      ? "no trigger"
      : t.type === "timerTrigger"
        ? `timer ${String(t.schedule)} —`
        : t.type === "queueTrigger"
          ? `storage queue ${String(t.queueName)} — via ${String(t.connection)}`
          : t.type === "httpTrigger"
            ? `http ${(t.methods as string[]).join(",")} ${String(t.route)} ${String(t.authLevel)}`
            : t.type;
    const want =
      doc.trigger === "timer" ? `timer ${doc.target} —` : doc.trigger === "storage queue" ? `storage queue ${doc.target} — via ${queueConnection}` : `${doc.trigger} ${doc.target} ${doc.auth}`;
    if (got !== want) out.push(`${r.name}: registered as "${got}", README says "${want}"`);
  }
  return out;
}
