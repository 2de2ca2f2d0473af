import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadFunctionRegistrations } from "../../dev/http-host.js";
import { functionsHostSettings } from "../../dev/stack.js";
import { APP_SETTINGS, loadSettings } from "../../src/config/settings.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
/** Settings the Functions host (and Node) read themselves, beside the app's own. */
const HOST_SETTINGS = ["FUNCTIONS_WORKER_RUNTIME", "NODE_EXTRA_CA_CERTS", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"];

describe("local.settings.json that npm run stack writes for func start", () => {
  it("holds only known settings, passes the settings schema, and names the stack's CA", () => {
    const values = functionsHostSettings(stackOf());
    for (const name of Object.keys(values)) expect([...Object.keys(APP_SETTINGS), ...HOST_SETTINGS], name).toContain(name);
    expect(() => loadSettings(values)).not.toThrow();
    expect(values.FUNCTIONS_WORKER_RUNTIME).toBe("node");
    expect(readFileSync(values.NODE_EXTRA_CA_CERTS!, "utf8")).toBe(stackOf().sim.ca);
  });

  it("resolves every %NAME% the function registrations use", async () => {
    const values = functionsHostSettings(stackOf());
    const named = new Set<string>();
    for (const r of await loadFunctionRegistrations())
      for (const b of Object.values(r.bindings)) for (const v of Object.values(b)) if (typeof v === "string") for (const m of v.matchAll(/%(\w+)%/g)) named.add(m[1]!);
    expect([...named].sort()).toEqual(["SECRET_CHECK_SCHEDULE", "SYNC_SCHEDULE"]);
    for (const name of named) expect(values[name], name).toBeTruthy();
  });

  it("is enough for a worker process: with these values as its environment, and nothing else, it reaches the stack's vault", async () => {
    const values = functionsHostSettings(stackOf());
    const script = `
      import { createApp } from "./src/composition.ts";
      import { loadSettings } from "./src/config/settings.ts";
      const app = createApp({ settings: loadSettings(process.env) });
      try { await app.secrets.get("0b5d2c1e-1111-4222-8333-944444444444"); console.log("found"); } catch (e) { console.log(e.code); }
    `;
    // Asynchronously: the simulator answers from this very process.
    const r = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...values, PATH: process.env.PATH ?? "" }, encoding: "utf8" });
    expect(r.stderr).toBe("");
    // No secret is stored for that tenant: the vault was reached over trusted TLS, with a token, and answered 404.
    expect(r.stdout.trim()).toBe("SECRET_MISSING");
  });
});
