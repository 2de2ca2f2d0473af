#!/usr/bin/env node
// The operators' CLI, from the compiled output (`npm run build` first). In a checkout, `npm run cli -- …` runs it from source.
import { runCli } from "../dist/src/cli/main.js";

process.exitCode = await runCli(process.argv.slice(2));
