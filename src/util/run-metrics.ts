/**
 * What one run costs, attributed to the run even when a process works on several at once: table requests are
 * counted by a pipeline policy of every Table client into the counter of the asynchronous context they were sent
 * from (AsyncLocalStorage), so requests of another run in the same process are not counted here.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";

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
      const n = entitiesIn(response.bodyAsText);
      processTableRequests.rows += n;
      if (c) c.rows += n;
    }
    return response;
  },
};

/** Samples the process's resident set size while a run works (the peak seen); CPU time of the process meanwhile. */
export class ResourceSampler {
  private readonly cpu0 = process.cpuUsage();
  private peak = process.memoryUsage.rss();
  private readonly timer: NodeJS.Timeout;
  constructor(intervalMs = 50) {
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
