/**
 * The deployment package, made the way `azd deploy` makes it and loaded the way the Functions host's Node worker
 * loads it. azd (cli/azd/pkg/project: the Node framework service, the function app service target) for a
 * `language: ts`, `host: function` service: runs the service's `prepackage` hook, runs `npm run build`, takes the
 * folder `dist` of azure.yaml (else the project folder) and zips it, applying that folder's `.funcignore` with
 * gitignore semantics (without one: node_modules is left out unless `remoteBuild: false`); `.azure/`, the ignore file
 * and `local.settings.json` are always left out. On Flex Consumption a TypeScript service is built remotely when its
 * project's `.funcignore` leaves out node_modules. The worker globs package.json `main`, imports each file and
 * provides `@azure/functions-core` (through a require hook) on which `@azure/functions` registers every function.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, copyFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { differencesFromReadme, documentedFunctions, type RegisteredFunction } from "../support/readme-functions.js";

const root = path.resolve(".");

interface AzdService {
  project?: string;
  language?: string;
  host?: string;
  dist?: string;
  remoteBuild?: boolean;
  hooks?: Record<string, { run?: string; posix?: { run?: string } }>;
}

/** The files of `dir` that a zip made by azd would hold (paths relative to `dir`, with "/"). */
function azdZipEntries(dir: string, service: AzdService): string[] {
  const ignoreFile = path.join(dir, ".funcignore");
  // git applies gitignore patterns exactly; a throwaway repository keeps the project's own ignore files out of it.
  const gitDir = mkdtempSync(path.join(os.tmpdir(), "entra-sync-pkg-git-"));
  try {
    execFileSync("git", ["init", "-q", "--bare", gitDir]);
    const args = [`--git-dir=${gitDir}`, `--work-tree=${dir}`, "ls-files", "--others", "-z", ...(existsSync(ignoreFile) ? [`--exclude-from=${ignoreFile}`] : [])];
    const listed = execFileSync("git", args, { cwd: dir, maxBuffer: 1 << 28 }).toString("utf8").split("\0").filter(Boolean);
    return listed.filter((f) => {
      const parts = f.split("/");
      if (parts.includes(".azure") && parts.indexOf(".azure") < parts.length - 1) return false;
      const name = parts[parts.length - 1]!;
      if (name === ".funcignore" || name === "local.settings.json") return false;
      if (!existsSync(ignoreFile) && service.remoteBuild !== false && parts.slice(0, -1).includes("node_modules")) return false;
      return true;
    });
  } finally {
    rmSync(gitDir, { recursive: true, force: true });
  }
}

/** Loads an unpacked package as the host's Node worker does and returns what it registered (or the load error). */
function loadLikeTheWorker(dir: string): { registered: RegisteredFunction[]; error: string | undefined } {
  const script = `
    import Module from "node:module";
    import { readFileSync, readdirSync } from "node:fs";
    import path from "node:path";
    import { pathToFileURL } from "node:url";
    const registered = [];
    const core = {
      setProgrammingModel() {}, registerHook: () => ({ dispose() {} }), log() {},
      registerFunction(metadata) { registered.push({ name: metadata.name, bindings: metadata.bindings }); return { dispose() {} }; },
    };
    const load = Module._load;
    Module._load = function (request, ...rest) { return request === "@azure/functions-core" ? core : load.call(this, request, ...rest); };
    let error;
    try {
      const main = JSON.parse(readFileSync("package.json", "utf8")).main;
      const dir = path.dirname(main), glob = path.basename(main);
      if (/[*?[{]/.test(dir)) throw new Error("main globs only file names here: " + main);
      const re = new RegExp("^" + glob.replace(/[.+^$()|\\\\]/g, "\\\\$&").replace(/\\*/g, "[^/]*").replace(/\\?/g, "[^/]") + "$");
      const files = readdirSync(dir).filter((f) => re.test(f)).sort();
      if (files.length === 0) throw new Error("package.json main " + main + " matches no file");
      for (const f of files) await import(pathToFileURL(path.resolve(dir, f)).href);
    } catch (e) { error = String(e && e.message || e); }
    process.stdout.write(JSON.stringify({ registered, error }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
  if (r.status !== 0) return { registered: [], error: r.stderr || `exit ${String(r.status)}` };
  return JSON.parse(r.stdout) as { registered: RegisteredFunction[]; error: string | undefined };
}

const azure = parseYaml(readFileSync("azure.yaml", "utf8")) as { services: Record<string, AzdService> };
const api = azure.services.api!;
let unpacked = "";
let entries: string[] = [];

const run = promisify(execFile);

beforeAll(async () => {
  // azd deploy, step by step (restore is the project's own node_modules).
  const hook = api.hooks?.prepackage;
  const command = hook?.posix?.run ?? hook?.run;
  if (command) await run("sh", ["-c", command], { cwd: root, maxBuffer: 1 << 26 });
  await run("npm", ["run", "build"], { cwd: root, maxBuffer: 1 << 26 });
  const packageRoot = api.dist ? path.resolve(root, api.dist) : root;
  entries = azdZipEntries(packageRoot, api);
  // "Unzip" into a fresh folder: hard links, as the bytes are the same.
  unpacked = mkdtempSync(path.join(os.tmpdir(), "entra-sync-pkg-"));
  for (const f of entries) {
    const to = path.join(unpacked, f);
    mkdirSync(path.dirname(to), { recursive: true });
    try {
      linkSync(path.join(packageRoot, f), to);
    } catch {
      copyFileSync(path.join(packageRoot, f), to);
    }
  }
}, 600_000);

afterAll(() => {
  if (unpacked) rmSync(unpacked, { recursive: true, force: true });
});

describe("the deployment package azd makes", () => {
  it("registers every function of the README's table, with its trigger, schedule/route/queue and auth level", () => {
    const { registered, error } = loadLikeTheWorker(unpacked);
    expect(error).toBeUndefined();
    const docs = documentedFunctions();
    expect(docs.size).toBeGreaterThan(0);
    expect(differencesFromReadme(registered, docs)).toEqual([]);
  });

  it("holds no test, dev, bench, infra or source file and no devDependency", () => {
    const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as { packages: Record<string, { dev?: boolean }> };
    const strays = entries.filter((f) => /^(dist\/)?(test|dev|bench|infra|scripts|docs|src\/|coverage)(\/|$)/.test(f) && !f.startsWith("dist/src/"));
    expect(strays).toEqual([]);
    expect(entries.filter((f) => f.endsWith(".ts") && !f.includes("node_modules/"))).toEqual([]);
    const devPackages = new Set<string>();
    for (const f of entries) {
      const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(f);
      if (m && lock.packages[m[1]!]?.dev) devPackages.add(m[1]!);
    }
    expect([...devPackages].sort()).toEqual([]);
    expect(entries).toContain("host.json");
    expect(entries).toContain("package.json");
  });

  it("is deployed as built here: no remote build on Flex Consumption, production dependencies inside", () => {
    // azd: remoteBuild as set, else on exactly when the project's .funcignore leaves out node_modules.
    const projectIgnore = path.join(root, ".funcignore");
    const nodeModulesIgnored = existsSync(projectIgnore) && !azdZipEntries(root, api).some((f) => f.startsWith("node_modules/"));
    expect(api.remoteBuild ?? nodeModulesIgnored).toBe(false);
    expect(entries.some((f) => f.startsWith("node_modules/@azure/functions/"))).toBe(true);
    const bytes = entries.reduce((n, f) => n + statSync(path.join(unpacked, f)).size, 0);
    // Not an assertion: the README states the package's size, measured by `npm run package`.
    console.info(`deployment package: ${entries.length} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB unzipped`);
  });
});
