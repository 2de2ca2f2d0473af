import { readFileSync, readdirSync } from "node:fs";
import Module from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { documentedFunctions as documented } from "../support/readme-functions.js";

interface Binding {
  type: string;
  direction: string;
  [k: string]: unknown;
}
interface Registered {
  name: string;
  bindings: Record<string, Binding>;
}

// The Functions library asks for @azure/functions-core once and caches the answer: provide an in-memory one
// before the first app.* call, so that registrations are recorded instead of skipped.
const registered: Registered[] = [];
const fakeCore = {
  setProgrammingModel: () => undefined,
  registerFunction: (metadata: Registered) => {
    registered.push(metadata);
    return { dispose: () => undefined };
  },
  registerHook: () => ({ dispose: () => undefined }),
  log: () => undefined,
};
const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
const originalLoad = M._load;
M._load = function (request: string, ...rest: unknown[]) {
  if (request === "@azure/functions-core") return fakeCore;
  return originalLoad.call(this, request, ...rest);
};

describe("function registrations", () => {
  it("registers every function as the README says: names, schedules, routes, queues, auth levels", async () => {
    for (const f of readdirSync("src/functions").filter((f) => f.endsWith(".ts")).sort()) await import(/* @vite-ignore */ pathToFileURL(path.resolve("src/functions", f)).href);
    const docs = documented();
    expect(docs.size).toBe(31);
    expect(registered.map((r) => r.name).sort()).toEqual([...docs.keys()].sort()); // every function is documented
    const mine = registered.filter((r) => docs.has(r.name));
    expect(mine.map((r) => r.name).sort()).toEqual([...docs.keys()].sort());
    for (const r of mine) {
      const doc = docs.get(r.name)!;
      const trigger = Object.values(r.bindings).find((b) => b.direction === "in" && /Trigger$/.test(b.type))!;
      expect(trigger, r.name).toBeDefined();
      if (doc.trigger === "timer") {
        expect(trigger.type).toBe("timerTrigger");
        expect(trigger.schedule).toBe(doc.target);
      } else if (doc.trigger === "storage queue") {
        expect(trigger.type).toBe("queueTrigger");
        expect(trigger.queueName).toBe(doc.target);
        expect(trigger.connection, "the queues live in the app's data account").toBe("APP_STORAGE");
      } else {
        const [, method] = /^http (\w+)$/.exec(doc.trigger)!;
        expect(trigger.type).toBe("httpTrigger");
        expect(trigger.route).toBe(doc.target);
        expect(trigger.methods).toEqual([method]);
        expect(trigger.authLevel).toBe(doc.auth);
      }
    }
  });

  it("schedules the scheduler from the SYNC_SCHEDULE setting and reads jobs from the queues the infra creates", async () => {
    const { QUEUES } = await import("../../src/state/tables.js");
    const byName = new Map(registered.map((r) => [r.name, Object.values(r.bindings).find((b) => /Trigger$/.test(b.type))!]));
    expect(byName.get("scheduler")?.schedule).toBe("%SYNC_SCHEDULE%");
    expect(byName.get("syncWorker")?.queueName).toBe(QUEUES.syncJobs);
    expect(byName.get("syncWorkerPoison")?.queueName).toBe(QUEUES.syncJobsPoison);
  });

  it("keeps @azure/functions out of every module outside src/functions", () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = `${dir}/${e.name}`;
        if (e.isDirectory()) {
          if (p !== "src/functions") walk(p);
        } else if (p.endsWith(".ts") && /from "@azure\/functions"/.test(readFileSync(p, "utf8"))) offenders.push(p);
      }
    };
    walk("src");
    expect(offenders).toEqual([]);
  });

  it("imports no runtime value of HttpRequest, InvocationContext or HttpResponse by name (they fail under native ESM)", () => {
    for (const f of readdirSync("src/functions").filter((f) => f.endsWith(".ts"))) {
      const text = readFileSync(`src/functions/${f}`, "utf8");
      for (const m of text.matchAll(/import \{([^}]*)\} from "@azure\/functions"/g)) {
        for (const name of m[1]!.split(",").map((s) => s.trim())) if (/^(HttpRequest|InvocationContext|HttpResponse)$/.test(name)) throw new Error(`${f} imports ${name} as a value`);
      }
    }
  });
});
