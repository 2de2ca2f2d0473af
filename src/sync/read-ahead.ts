import type { DeltaPage } from "../graph/tenant-graph.js";

/**
 * Reads a delta round's pages ahead of their processing. Pages come one after the other (each names the next), so a
 * reader that waits for each page to be processed before asking for the next leaves Graph idle while the page is
 * matched and written, and the round's start (the directory snapshot) idle too. This keeps up to `depth()` pages read
 * or being read ahead of the one taken last: still one request at a time to Graph, in the same order, so nothing
 * changes for throttling or for the checkpoint (saved after a page is written, as before; pages read ahead of a stop
 * are read again by the continuation).
 */
export class ReadAhead {
  private queue: Array<Promise<DeltaPage>> = [];
  /** The next link, known once the last page read arrived, not yet asked for (the queue was full). */
  private waiting: string | undefined;
  private stopped = false;
  /** Bumped by `restart`: pages of an abandoned chain are not followed. */
  private generation = 0;

  constructor(
    private readonly fetch: (link: string | undefined) => Promise<DeltaPage>,
    /** How many pages may be read ahead now (asked each time; e.g. more while the round's start is being read). */
    private readonly depth: () => number,
    /** True: ask for no further page (the invocation is about to stop). */
    private readonly stopWhen: () => boolean = () => false,
  ) {}

  /** Starts a chain at `link` (undefined: a new initial round), dropping whatever was read ahead before. */
  restart(link: string | undefined): void {
    this.generation++;
    this.queue = [];
    this.waiting = undefined;
    this.stopped = false;
    this.read(link);
  }

  /** The next page of the chain (read already or being read); undefined when none was asked for (stopped). */
  take(): Promise<DeltaPage> | undefined {
    const page = this.queue.shift();
    this.more();
    return page;
  }

  /** No further page is asked for; pages already asked for are dropped with the reader. */
  stop(): void {
    this.stopped = true;
    this.waiting = undefined;
  }

  /** How many pages are read or being read and not taken yet. */
  get ahead(): number {
    return this.queue.length;
  }

  private read(link: string | undefined): void {
    const generation = this.generation;
    const page = this.fetch(link);
    page.catch(() => undefined); // met by whoever takes it
    this.queue.push(page);
    page.then(
      (p) => {
        if (generation !== this.generation || !p.nextLink) return;
        this.waiting = p.nextLink;
        this.more();
      },
      () => undefined,
    );
  }

  private more(): void {
    if (this.waiting === undefined || this.stopped) return;
    if (this.stopWhen()) return this.stop();
    if (this.queue.length >= this.depth()) return;
    const link = this.waiting;
    this.waiting = undefined;
    this.read(link);
  }
}

/**
 * How deep to read ahead: `atStart` pages while the round's start is being read (`started()` false), so Graph is not
 * idle meanwhile; still `atStart` after it, until the pages read then are worked off to fewer than `usual` (else Graph
 * would sit idle while a backlog of `atStart` pages shrinks to the usual depth); `usual` from then on. `reset()` when
 * a new round begins.
 */
export function startDepth(atStart: number, usual: number, started: () => boolean, ahead: () => number): { depth: () => number; reset: () => void } {
  let caughtUp = false;
  return {
    depth: () => {
      if (!caughtUp && started() && ahead() < usual) caughtUp = true;
      return caughtUp ? usual : atStart;
    },
    reset: () => void (caughtUp = false),
  };
}
