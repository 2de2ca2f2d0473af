/**
 * What one run costs, attributed to the run even when a process works on several at once: table requests are
 * counted by a pipeline policy of every Table client into the counter of the asynchronous context they were sent
 * from (AsyncLocalStorage), so requests of another run in the same process are not counted here.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { PipelinePolicy, PipelineResponse } from "@azure/core-rest-pipeline";

export interface RequestCounter {
  /** Table Storage HTTP requests (every attempt; a transaction of up to 100 rows is one). */
  table: number;
  /** Rows (entities) those requests read. */
  rows: number;
}

/** Entities in a Table Storage answer to a GET (a query's page, or one entity). */
export function entitiesIn(body: string): number {
  let n = 0;
  for (let i = body.indexOf('"RowKey":'); i !== -1; i = body.indexOf('"RowKey":', i + 9)) n++;
  return n;
}

/**
 * Entities in a GET's answer, counted on the body the SDK's deserialization (a policy inside this one) has already
 * parsed — an entity is an object with a RowKey, a page holds them in `value` — so that the text is not scanned again;
 * the text when nothing was parsed.
 */
function entitiesOf(response: PipelineResponse & { parsedBody?: unknown }): number {
  const body = response.parsedBody as { value?: unknown; RowKey?: unknown } | null | undefined;
  if (body === null || typeof body !== "object") return entitiesIn(response.bodyAsText ?? "");
  if (Array.isArray(body.value)) {
    let n = 0;
    for (const e of body.value as unknown[]) if (e !== null && typeof e === "object" && "RowKey" in e) n++;
    return n;
  }
  return "RowKey" in body ? 1 : 0;
}

const current = new AsyncLocalStorage<RequestCounter>();

/** Process-wide count of table requests (benchmarks). */
export const processTableRequests = { count: 0, rows: 0 };

/** Runs `fn` with `counter` receiving the table requests sent from it (and from what it starts). */
export function withRequestCounter<T>(counter: RequestCounter, fn: () => Promise<T>): Promise<T> {
  return current.run(counter, fn);
}

/** The pipeline policy every Table client carries: counts each request into its context's counter. */
export const tableRequestCounterPolicy: PipelinePolicy = {
  name: "entraSyncTableRequestCounter",
  async sendRequest(request, next) {
    processTableRequests.count++;
    const c = current.getStore();
    if (c) c.table++;
    const response = await next(request);
    if (request.method === "GET" && response.status === 200 && response.bodyAsText) {
      const n = entitiesOf(response);
      processTableRequests.rows += n;
      if (c) c.rows += n;
    }
    return response;
  },
};

/**
 * Samples the process's resident set size while a run works (the peak seen); CPU time of the process meanwhile.
 * Four times a second: each sample reads the OS's figure (a system call and a parse), and at 20 a second that was
 * ~1 % of a full read's CPU (RSS moves with pages of users, which take longer than 250 ms each).
 */
export class ResourceSampler {
  private readonly cpu0 = process.cpuUsage();
  private peak = process.memoryUsage.rss();
  private readonly timer: NodeJS.Timeout;
  constructor(intervalMs = 250) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }
  private sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
  }
  /** Stops sampling: CPU milliseconds (user + system) and peak RSS in bytes since the start. */
  stop(): { cpuMs: number; peakRss: number } {
    clearInterval(this.timer);
    this.sample();
    const d = process.cpuUsage(this.cpu0);
    return { cpuMs: Math.round((d.user + d.system) / 1000), peakRss: this.peak };
  }
}
