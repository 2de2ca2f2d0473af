/**
 * `npm run package [folder]`: builds the deployment package into `.deploy/` (or the folder given): `dist/src`,
 * `host.json`, `package.json` (without its scripts, so that nothing rebuilds it remotely), the lock file, `.funcignore`
 * and the production dependencies only (`npm ci --omit=dev`). azd runs it as the `prepackage` hook of the `api` service
 * and zips that folder (azure.yaml `dist`); the Azure CLI path zips it by hand. Prints the size of what it made.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = process.cwd();
const out = path.resolve(root, process.argv[2] ?? ".deploy");
const npm = (args: string[], cwd: string) => execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", args, { cwd, stdio: ["ignore", "inherit", "inherit"], shell: process.platform === "win32" });

// A clean dist/: tsc never deletes the output of a removed source file, and the host loads every dist/src/functions/*.js.
rmSync(path.join(root, "dist"), { recursive: true, force: true });
npm(["run", "build"], root);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of ["host.json", "package.json", "package-lock.json", ".funcignore"]) cpSync(path.join(root, f), path.join(out, f));
cpSync(path.join(root, "dist/src"), path.join(out, "dist/src"), { recursive: true });
// No install script of a production dependency is needed (the lock file marks only dev tools as having one).
npm(["ci", "--omit=dev", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], out);
const pkg = JSON.parse(readFileSync(path.join(out, "package.json"), "utf8")) as Record<string, unknown>;
delete pkg.scripts;
writeFileSync(path.join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

let files = 0;
let bytes = 0;
const walk = (dir: string) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else {
      files++;
      bytes += statSync(p).size;
    }
  }
};
walk(out);
process.stdout.write(`Deployment package in ${path.relative(root, out) || "."}: ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB (unzipped).\n`);
