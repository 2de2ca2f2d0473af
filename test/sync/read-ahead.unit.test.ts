import { describe, expect, it } from "vitest";
import type { DeltaPage } from "../../src/graph/tenant-graph.js";
import { ReadAhead, startDepth } from "../../src/sync/read-ahead.js";

/** A chain of `n` pages "p0" → "p1" → …, each answered when the test releases it; records what was asked and when. */
function chain(n: number) {
  const asked: Array<string | undefined> = [];
  const open: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const fetch = (link: string | undefined): Promise<DeltaPage> => {
    asked.push(link);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const i = link === undefined ? 0 : Number(link.slice(1));
    return new Promise((resolve) =>
      open.push(() => {
        inFlight--;
        resolve({ entries: [], nextLink: i + 1 < n ? `p${i + 1}` : undefined, deltaLink: i + 1 < n ? undefined : "delta" });
      }),
    );
  };
  /** Answers every request asked so far, as many rounds as asked (each answer may ask the next). */
  const answer = async (rounds = 50) => {
    for (let r = 0; r < rounds && open.length; r++) {
      open.shift()!();
      await new Promise((res) => setImmediate(res));
    }
  };
  return { fetch, asked, answer, maxInFlight: () => maxInFlight };
}

describe("ReadAhead", () => {
  it("reads up to depth pages ahead of the one taken, one request at a time, in order", async () => {
    const c = chain(10);
    const r = new ReadAhead(c.fetch, () => 3);
    r.restart(undefined);
    const first = r.take()!;
    await c.answer();
    expect((await first).nextLink).toBe("p1");
    // Nobody took a page since the first: three pages ahead, no more.
    expect(c.asked).toEqual([undefined, "p1", "p2", "p3"]);
    expect(r.ahead).toBe(3);
    expect(c.maxInFlight()).toBe(1);
    // Taking one lets the chain read one more.
    expect((await r.take()!).nextLink).toBe("p2");
    await c.answer();
    expect(c.asked).toEqual([undefined, "p1", "p2", "p3", "p4"]);
    // Taking the rest reads the chain to its end, in order, and no page twice.
    const links: Array<string | undefined> = [];
    for (let p = r.take(); p; p = r.take()) {
      await c.answer();
      const page = await p;
      links.push(page.nextLink ?? page.deltaLink);
    }
    expect(links).toEqual(["p3", "p4", "p5", "p6", "p7", "p8", "p9", "delta"]);
    expect(c.asked).toEqual([undefined, "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]);
  });

  it("asks for nothing more once stopped or once the invocation is about to stop", async () => {
    const c = chain(10);
    let stopSoon = false;
    const r = new ReadAhead(c.fetch, () => 4, () => stopSoon);
    r.restart(undefined);
    const first = r.take()!;
    stopSoon = true;
    await c.answer();
    await first;
    expect(c.asked).toEqual([undefined]);
    expect(r.take()).toBeUndefined();

    const d = chain(10);
    const s = new ReadAhead(d.fetch, () => 2);
    s.restart(undefined);
    s.take();
    s.stop();
    await d.answer();
    expect(d.asked).toEqual([undefined]);
  });

  it("a restart drops what was read ahead and does not follow the old chain", async () => {
    const c = chain(10);
    const r = new ReadAhead(c.fetch, () => 2);
    r.restart("p5");
    r.take();
    r.restart(undefined); // e.g. the delta token expired: a new initial round
    const first = r.take()!;
    await c.answer();
    expect((await first).nextLink).toBe("p1");
    // p5's answer came after the restart: p6 was never asked for.
    expect(c.asked).toEqual(["p5", undefined, "p1", "p2"]);
  });

  it("reads deeper while the round's start is read, and keeps asking while the pages read then are worked off", async () => {
    const c = chain(40);
    let started = false;
    const policy = startDepth(6, 2, () => started, () => r.ahead);
    const r: ReadAhead = new ReadAhead(c.fetch, policy.depth);
    r.restart(undefined);
    const first = r.take()!;
    await c.answer();
    await first;
    // The round's start is still being read: six pages ahead.
    expect(c.asked).toHaveLength(7);
    started = true;
    // The start is read; the backlog of six is worked off one page at a time, and Graph is asked for a page each time
    // (waiting for the backlog to shrink to two would leave it idle for four pages).
    for (let k = 1; k <= 4; k++) {
      await r.take();
      await c.answer();
      expect(c.asked).toHaveLength(7 + k);
      expect(r.ahead).toBe(6);
    }
    // Once fewer than two are ahead (processing outran Graph), the usual depth holds.
    for (let k = 0; k < 6; k++) void r.take();
    await c.answer();
    expect(r.ahead).toBe(2);
    const asked = c.asked.length;
    await r.take();
    await c.answer();
    expect(c.asked.length).toBe(asked + 1);
    expect(r.ahead).toBe(2);
    // A new round reads deep again while its start is read.
    started = false;
    policy.reset();
    r.restart(undefined);
    const again = r.take()!;
    await c.answer();
    await again;
    expect(r.ahead).toBe(6);
  });
});
