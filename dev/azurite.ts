import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** A running Azurite (tables and queues, in memory) on free ports of 127.0.0.1. */
export interface AzuriteInstance {
  tableUrl: string;
  queueUrl: string;
  /** A connection string for the well-known development account on these ports. */
  connectionString: string;
  /** Whether the key index (azurite-key-index.cjs) is on in this Azurite. */
  keyIndex: boolean;
  stop(): Promise<void>;
}

/** The well-known Azurite development account (public, documented; not a secret). */
export const DEV_ACCOUNT = "devstoreaccount1";
export const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/**
 * Starts Azurite's table and queue services as a child process (importing "azurite" is not possible: its main
 * entry is the VS Code extension). Ports are chosen by the OS and read from Azurite's start-up lines. With
 * `keyedLookups` (default) its store finds entities by key instead of scanning their partition.
 */
export async function startAzurite(o: { keyedLookups?: boolean; keyIndex?: boolean } = {}): Promise<AzuriteInstance> {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve("azurite/package.json")), "dist", "src", "azurite.js");
  // Stock Azurite scans a whole partition for every keyed read or write (O(partition size)); the preload makes its
  // store use the RowKey index, as Table Storage looks rows up by key. Same results; see azurite-keyed-lookup.cjs.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const preload = o.keyedLookups === false ? [] : ["--require", path.join(here, "azurite-keyed-lookup.cjs")];
  // Loki's binary indexes make a write cost O(partition size); the key index makes it O(log n), as Table Storage's
  // cost does not grow with the partition (see azurite-key-index.cjs). `keyIndex: false` for the bench's "before".
  // AZURITE_KEY_INDEX=0 turns it off for a whole run (tests, npm start), to compare.
  const keyIndex = o.keyIndex ?? process.env.AZURITE_KEY_INDEX !== "0";
  const withKeyIndex = o.keyedLookups !== false && keyIndex;
  if (withKeyIndex) preload.push("--require", path.join(here, "azurite-key-index.cjs"));
  // A batch's boundary found on the body's first line, not by decoding the whole body (azurite-batch-boundary.cjs);
  // AZURITE_BATCH_BOUNDARY=0 leaves Azurite's own search, to compare.
  if (withKeyIndex && process.env.AZURITE_BATCH_BOUNDARY !== "0") preload.push("--require", path.join(here, "azurite-batch-boundary.cjs"));
  const child = spawn(
    process.execPath,
    [...preload, ...(process.env.AZURITE_NODE_ARGS ?? "").split(/\s+/).filter(Boolean), bin, "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent", "--loose", ...(process.env.AZURITE_DEBUG_LOG ? ["--debug", process.env.AZURITE_DEBUG_LOG] : []),
      // Idle connections are kept 4 minutes, not Azurite's 5 s: a client busy for longer (generating a 100,000-user
      // tenant) otherwise writes its next request into a socket Azurite closed meanwhile and fails with EPIPE.
      "--tableKeepAliveTimeout", "240", "--queueKeepAliveTimeout", "240",
      "--blobHost", "127.0.0.1", "--blobPort", "0", "--queueHost", "127.0.0.1", "--queuePort", "0", "--tableHost", "127.0.0.1", "--tablePort", "0"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const ports = await new Promise<{ table: string; queue: string }>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => done(new Error(`Azurite did not start within 120 s. Output:\n${out}`)), 120_000); // a loaded machine can take long to load its modules
    const found: { table?: string; queue?: string } = {};
    function done(err?: Error): void {
      clearTimeout(timer);
      child.stdout?.removeAllListeners("data");
      if (err) {
        child.kill();
        reject(err);
      } else resolve({ table: found.table!, queue: found.queue! });
    }
    const onData = (d: Buffer): void => {
      out += d.toString();
      const t = /Table service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      const q = /Queue service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (t) found.table = t[1];
      if (q) found.queue = q[1];
      if (!found.table || !found.queue) return;
      // Asked for and not on (its dependency missing, another Azurite layout): the local stack would measure LokiJS.
      const off = /entra-sync key index: off \((.*)\)/.exec(out);
      if (withKeyIndex && !/entra-sync key index: on/.test(out))
        return done(new Error(`Azurite's key index (dev/azurite-key-index.cjs) did not load: ${off?.[1] ?? "no word from it"}. Run npm install, or set AZURITE_KEY_INDEX=0 to run stock Azurite.`));
      done();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => done(new Error(`Azurite exited with code ${code}. Output:\n${out}`)));
  });
  child.removeAllListeners("exit");
  const tableUrl = `http://127.0.0.1:${ports.table}/${DEV_ACCOUNT}`;
  const queueUrl = `http://127.0.0.1:${ports.queue}/${DEV_ACCOUNT}`;
  return {
    tableUrl,
    queueUrl,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=${tableUrl};QueueEndpoint=${queueUrl};`,
    keyIndex: withKeyIndex,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
