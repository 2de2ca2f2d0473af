/**
 * The local stand-in for the whole Functions host (Core Tools cannot be installed on the build machines): the HTTP
 * front end of dev/http-host.ts, plus the storage-queue and timer triggers, all dispatched from the registrations of
 * `src/functions/` (no function is named here).
 *
 * Queue triggers behave as the host's queue listener: each registered queue is polled against the storage account
 * its `connection` setting names, starting quickly and backing off while idle; up to `batchSize` messages are taken
 * at a time and another batch is fetched once no more than `newBatchThreshold` are in flight; a message is handed
 * over decoded (`messageEncoding`; JSON objects parsed) with the host's `triggerMetadata` (dequeueCount, id,
 * insertionTime, expirationTime, nextVisibleTime, popReceipt, queueTrigger), deleted when the handler succeeds, made
 * visible again after `visibilityTimeout` when it throws, and moved to `<queue>-poison` once it has failed
 * `maxDequeueCount` times. Settings come from host.json's `extensions.queues`.
 *
 * Timer triggers run on their NCRONTAB schedules (six fields, with seconds, UTC), `%NAME%` resolved from the app
 * settings, `runOnStartup` honoured; the handler gets the host's timer object. An invocation that overruns the next
 * occurrence makes the timer skip it, as the host does.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { QueueClient, QueueServiceClient } from "@azure/storage-queue";
import azureFunctions, { type InvocationContext as Ctx, type Timer } from "@azure/functions";
import { CronExpressionParser } from "cron-parser";
import { loadFunctionRegistrations, startHttpHost, type FunctionRegistration, type HttpHost, type HttpHostOptions } from "./http-host.js";

const { InvocationContext } = azureFunctions;

/** host.json `extensions.queues`, with the host's defaults. Durations in milliseconds. */
export interface QueueHostOptions {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  /** How long a failed message stays invisible before it is retried. */
  visibilityTimeoutMs: number;
  /** The longest wait between polls of an idle queue. */
  maxPollingIntervalMs: number;
  messageEncoding: "base64" | "none";
}

export interface LocalHostOptions extends HttpHostOptions {
  /** The app settings the host resolves `%NAME%` and `connection` from (default: process.env). */
  appSettings?: Record<string, string | undefined>;
  /** host.json to read (default: the repository's). */
  hostJsonPath?: string;
  /** Overrides of host.json's queue settings (tests shorten visibilityTimeoutMs). */
  queues?: Partial<QueueHostOptions>;
}

export interface LocalHost extends HttpHost {
  /** The queue and timer triggers run, as `queue <name> (<function>)` and `timer <schedule> (<function>)`. */
  triggers: string[];
  /** Stops polling and timers, waits for invocations under way, then closes the HTTP server. */
  close(): Promise<void>;
}

/** The smallest wait between polls (the host starts at 100 ms too). */
const MIN_POLL_MS = 100;
/** The longest idle wait between polls locally, so that a run started by hand is picked up within seconds. */
const LOCAL_MAX_POLL_MS = 2000;
/** How long a taken message stays invisible to other receivers; renewed at half-time while its handler works. */
const PROCESSING_VISIBILITY_S = 600;

function parseDuration(v: unknown, fallbackMs: number): number {
  if (typeof v !== "string") return fallbackMs;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(v.trim());
  if (!m) throw new Error(`host.json: "${v}" is not a TimeSpan (hh:mm:ss)`);
  return (((Number(m[1] ?? 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4])) * 1000 + Math.round(Number(`0.${m[5] ?? 0}`) * 1000);
}

/** host.json's `extensions.queues` with the host's defaults (batchSize 16, threshold batchSize/2, 5 dequeues, 0 s, 1 min, base64). */
export function queueOptionsFromHostJson(hostJson: unknown, overrides: Partial<QueueHostOptions> = {}): QueueHostOptions {
  const q = ((hostJson as { extensions?: { queues?: Record<string, unknown> } } | undefined)?.extensions?.queues ?? {}) as Record<string, unknown>;
  const batchSize = typeof q.batchSize === "number" ? q.batchSize : 16;
  const out: QueueHostOptions = {
    batchSize,
    newBatchThreshold: typeof q.newBatchThreshold === "number" ? q.newBatchThreshold : Math.floor(batchSize / 2),
    maxDequeueCount: typeof q.maxDequeueCount === "number" ? q.maxDequeueCount : 5,
    visibilityTimeoutMs: parseDuration(q.visibilityTimeout, 0),
    maxPollingIntervalMs: typeof q.maxPollingInterval === "number" ? q.maxPollingInterval : parseDuration(q.maxPollingInterval, 60_000),
    messageEncoding: q.messageEncoding === "none" ? "none" : "base64",
    ...overrides,
  };
  if (out.batchSize < 1 || out.batchSize > 32) throw new Error(`host.json: queues.batchSize ${out.batchSize} must be 1–32`);
  return out;
}

/** Resolves `%NAME%` from the app settings, as the host does for binding expressions; an unknown name is an error. */
export function resolveSettings(value: string, settings: Record<string, string | undefined>, where: string): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const v = settings[name];
    if (v === undefined || v === "") throw new Error(`${where}: '%${name}%' does not resolve to a value (app setting ${name} is not set)`);
    return v;
  });
}

/** The next occurrence of an NCRONTAB expression (six fields, seconds first) strictly after `after`, in UTC. */
export function nextOccurrence(schedule: string, after: Date): Date {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 6) throw new Error(`"${schedule}" is not an NCRONTAB expression with six fields (second minute hour day month weekday)`);
  return CronExpressionParser.parse(fields.join(" "), { currentDate: after, tz: "UTC" }).next().toDate();
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface Runner {
  stop(): void;
  /** Settles when every invocation started has ended. */
  drained(): Promise<void>;
}

function contextFor(reg: FunctionRegistration, log: (l: string) => void, triggerMetadata?: Record<string, unknown>): Ctx {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName: reg.name,
    ...(triggerMetadata ? { triggerMetadata } : {}),
    logHandler: (level, ...args) => log(`[${reg.name}] ${level}: ${args.map(String).join(" ")}`),
  });
}

function queueClientFor(connection: string, settings: Record<string, string | undefined>, queueName: string, fn: string): QueueClient {
  const cs = settings[connection];
  if (!cs) throw new Error(`${fn}: the app setting ${connection} (its queue connection) is not set; the local host supports connection strings only`);
  return QueueServiceClient.fromConnectionString(cs).getQueueClient(queueName);
}

function decode(text: string, encoding: QueueHostOptions["messageEncoding"]): string {
  return encoding === "base64" ? Buffer.from(text, "base64").toString("utf8") : text;
}

/** What the Node worker hands a queue function: JSON objects and arrays parsed, anything else as the string. */
function triggerValue(text: string): unknown {
  if (/^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all: the string it is
    }
  }
  return text;
}

function runQueue(reg: FunctionRegistration, queue: QueueClient, poison: QueueClient, o: QueueHostOptions, log: (l: string) => void): Runner {
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => wake?.(), ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });

  const toPoison = async (m: { messageId: string; popReceipt: string; messageText: string }) => {
    await poison.createIfNotExists();
    await poison.sendMessage(m.messageText);
    await queue.deleteMessage(m.messageId, m.popReceipt);
    log(`[${reg.name}] message ${m.messageId} moved to ${poison.name} after ${o.maxDequeueCount} failed attempts`);
  };

  const handle = async (m: Awaited<ReturnType<QueueClient["receiveMessages"]>>["receivedMessageItems"][number]) => {
    if (m.dequeueCount > o.maxDequeueCount) {
      await toPoison(m);
      return;
    }
    let popReceipt = m.popReceipt;
    const text = decode(m.messageText, o.messageEncoding);
    const triggerMetadata = {
      queueTrigger: text,
      dequeueCount: m.dequeueCount,
      expirationTime: m.expiresOn.toISOString(),
      id: m.messageId,
      insertionTime: m.insertedOn.toISOString(),
      nextVisibleTime: m.nextVisibleOn.toISOString(),
      popReceipt,
    };
    // Keep the message hidden while its handler works, as the host renews visibility at half-time.
    let renewing = Promise.resolve();
    const renew = setInterval(() => {
      renewing = renewing.then(async () => {
        try {
          popReceipt = (await queue.updateMessage(m.messageId, popReceipt, undefined, PROCESSING_VISIBILITY_S)).popReceipt ?? popReceipt;
        } catch (e) {
          log(`[${reg.name}] could not renew the visibility of message ${m.messageId}: ${errorText(e)}`);
        }
      });
    }, (PROCESSING_VISIBILITY_S * 1000) / 2);
    let failed: unknown;
    try {
      await reg.handler(triggerValue(text), contextFor(reg, log, triggerMetadata));
    } catch (e) {
      failed = e ?? new Error("the handler threw");
    } finally {
      clearInterval(renew);
      await renewing;
    }
    if (failed === undefined) {
      await queue.deleteMessage(m.messageId, popReceipt);
      return;
    }
    log(`[${reg.name}] failed on message ${m.messageId} (attempt ${m.dequeueCount} of ${o.maxDequeueCount}): ${errorText(failed)}`);
    if (m.dequeueCount >= o.maxDequeueCount) await toPoison({ ...m, popReceipt });
    else await queue.updateMessage(m.messageId, popReceipt, undefined, Math.ceil(o.visibilityTimeoutMs / 1000));
  };

  const loop = async () => {
    let delay = MIN_POLL_MS;
    while (!stopped) {
      if (inFlight.size > o.newBatchThreshold) {
        await Promise.race(inFlight);
        continue;
      }
      let got = 0;
      try {
        const r = await queue.receiveMessages({ numberOfMessages: o.batchSize, visibilityTimeout: PROCESSING_VISIBILITY_S });
        got = r.receivedMessageItems.length;
        for (const m of r.receivedMessageItems) {
          const p: Promise<void> = handle(m)
            .catch((e: unknown) => log(`[${reg.name}] message ${m.messageId}: ${errorText(e)}`))
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
      } catch (e) {
        log(`[${reg.name}] polling ${queue.name} failed: ${errorText(e)}`);
      }
      if (got > 0) {
        delay = MIN_POLL_MS;
        continue;
      }
      if (stopped) break;
      await sleep(delay);
      delay = Math.min(delay * 2, Math.max(MIN_POLL_MS, o.maxPollingIntervalMs));
    }
  };
  const running = loop();
  return {
    stop() {
      stopped = true;
      wake?.();
    },
    async drained() {
      await running;
      await Promise.allSettled([...inFlight]);
    },
  };
}

function runTimer(reg: FunctionRegistration, schedule: string, runOnStartup: boolean, log: (l: string) => void): Runner {
  let stopped = false;
  let handle: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  // The host's schedule status when no monitor has stored one yet: no last occurrence.
  let status = { last: "0001-01-01T00:00:00", next: nextOccurrence(schedule, new Date()).toISOString(), lastUpdated: new Date().toISOString() };

  const invoke = async (occurrence: Date | undefined) => {
    const timer: Timer = { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: status };
    try {
      await reg.handler(timer, contextFor(reg, log));
    } catch (e) {
      log(`[${reg.name}] failed: ${errorText(e)}`);
    }
    const now = new Date();
    status = { last: (occurrence ?? now).toISOString(), next: nextOccurrence(schedule, now).toISOString(), lastUpdated: now.toISOString() };
  };

  const arm = () => {
    if (stopped) return;
    const next = new Date(status.next);
    // setTimeout holds at most ~24.8 days: wait in steps.
    const wait = Math.min(Math.max(0, next.getTime() - Date.now()), 2 ** 31 - 1);
    handle = setTimeout(() => {
      if (stopped) return;
      if (Date.now() < next.getTime()) return arm();
      running = invoke(next).then(arm);
    }, wait);
  };

  running = runOnStartup ? invoke(undefined).then(arm) : (arm(), Promise.resolve());
  return {
    stop() {
      stopped = true;
      if (handle) clearTimeout(handle);
    },
    drained: () => running,
  };
}

/**
 * Starts the local host: the HTTP functions (dev/http-host.ts), and the queue and timer triggers of
 * `src/functions/` as the Functions host runs them. The handlers use whatever app `provideApp` gave them.
 */
export async function startLocalHost(o: LocalHostOptions = {}): Promise<LocalHost> {
  const settings = o.appSettings ?? process.env;
  const log = o.log ?? (() => undefined);
  const hostJson: unknown = JSON.parse(readFileSync(o.hostJsonPath ?? path.resolve(import.meta.dirname, "../host.json"), "utf8"));
  // Idle queues are polled at least every 2 s here (the host backs off to maxPollingInterval, default 1 minute).
  const queueOptions = queueOptionsFromHostJson(hostJson, { maxPollingIntervalMs: LOCAL_MAX_POLL_MS, ...o.queues });
  const regs = await loadFunctionRegistrations();

  // Resolve everything first, so that a missing setting fails the start (as the host's indexing does), not later.
  const plans: Array<{ describe: string; start: () => Runner }> = [];
  for (const reg of regs) {
    for (const b of Object.values(reg.bindings)) {
      if (b.type === "queueTrigger") {
        const queueName = resolveSettings(String(b.queueName), settings, reg.name);
        const connection = String(b.connection ?? "AzureWebJobsStorage");
        const queue = queueClientFor(connection, settings, queueName, reg.name);
        const poison = queueClientFor(connection, settings, `${queueName}-poison`, reg.name);
        plans.push({ describe: `queue ${queueName} (${reg.name})`, start: () => runQueue(reg, queue, poison, queueOptions, log) });
      } else if (b.type === "timerTrigger") {
        const schedule = resolveSettings(String(b.schedule), settings, reg.name);
        nextOccurrence(schedule, new Date()); // a bad expression fails the start
        plans.push({ describe: `timer ${schedule} (${reg.name})`, start: () => runTimer(reg, schedule, b.runOnStartup === true, log) });
      }
    }
  }
  const http = await startHttpHost(o);
  const runners = plans.map((p) => p.start());
  return {
    ...http,
    triggers: plans.map((p) => p.describe),
    async close() {
      for (const r of runners) r.stop();
      await Promise.allSettled(runners.map((r) => r.drained()));
      await http.close();
    },
  };
}
