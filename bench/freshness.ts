/**
 * Freshness of scheduled runs across a fleet: a pure, in-memory simulation of the scheduler's decision (no stack).
 * 5,000 tenants on a five-minute interval, a scheduler tick every five minutes that runs late by a random 0–10 s
 * (seeded), run times drawn per run; a tenant whose run is still going at a tick is skipped, as the lease does.
 * Freshness is measured per run as the age, just before the run ends, of the oldest change it may carry: from the
 * previous run's start to this run's end (gap between starts + this run's time). Goal: p99 ≤ interval + run time;
 * no rule can beat the ticks' own lateness (a run starts at its tick), so that much is allowed and reported apart.
 * The decision is `nextDueAt` / `isDueAt` of src/runs/scheduler.ts, side by side with the rule it replaced (next run
 * = tick time + interval, pulled earlier by the tenant's jitter).
 */
import { prng } from "../dev/simulator/util.js";
import { isDueAt, nextDueAt, spread } from "../src/runs/scheduler.js";
import { round } from "./common.js";

export interface FreshnessOptions {
  tenants: number;
  intervalMinutes: number;
  tickMinutes: number;
  maxLateSeconds: number;
  hours: number;
  seed: number;
  jitterRatio: number;
}

export interface RuleResult {
  rule: string;
  runs: number;
  freshnessP50Seconds: number;
  freshnessP99Seconds: number;
  freshnessMaxSeconds: number;
  /** Interval + the run time's p99, both from this simulation. */
  goalP99Seconds: number;
  /** Per run, freshness − (interval + that run's time): what the schedule adds beyond the goal; p99 and max. */
  overGoalP99Seconds: number;
  overGoalMaxSeconds: number;
  /** p99 freshness ≤ goal, allowing the ticks' own lateness (a run cannot start before its tick). */
  meetsGoal: boolean;
  /** Share of runs that started more than 1.5 intervals after the previous one (a whole interval lost). */
  missedIntervalShare: number;
}

export interface FreshnessResult {
  options: FreshnessOptions;
  runTimeP50Seconds: number;
  runTimeP99Seconds: number;
  rules: RuleResult[];
}

type Rule = (prevDue: number | undefined, now: number, intervalMs: number, pull: number) => number;

/** The rule before: next run = the tick's own time + interval, pulled earlier by the tenant's jitter. */
const tickTimeRule: Rule = (_prev, now, intervalMs, pull) => now + intervalMs * (1 - pull);

/** A run's duration: mostly a few seconds (an incremental run), a long tail of bigger tenants and busier moments. */
function runTime(rng: () => number): number {
  const u = rng();
  return Math.round(2_000 + 6_000 * -Math.log(1 - u * 0.999));
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function simulate(o: FreshnessOptions, name: string, rule: Rule): { result: Omit<RuleResult, "goalP99Seconds" | "meetsGoal">; runTimes: number[] } {
  const over: number[] = [];
  const intervalMs = o.intervalMinutes * 60_000;
  const tickMs = o.tickMinutes * 60_000;
  // Same seed for both rules: the same tick delays and the same run times in the same order.
  const rng = prng(o.seed);
  const ids = Array.from({ length: o.tenants }, (_, i) => `tenant-${i}`);
  const pull = ids.map((id) => o.jitterRatio * spread(id));
  const nextDue: Array<number | undefined> = ids.map(() => undefined);
  const busyUntil = ids.map(() => 0);
  const lastStart: Array<number | undefined> = ids.map(() => undefined);
  const freshness: number[] = [];
  const runTimes: number[] = [];
  let missed = 0;
  const ticks = Math.floor((o.hours * 3600_000) / tickMs);
  for (let k = 0; k < ticks; k++) {
    const now = k * tickMs + Math.round(rng() * o.maxLateSeconds * 1000);
    for (let i = 0; i < ids.length; i++) {
      if (busyUntil[i]! > now || !isDueAt(nextDue[i], now)) continue;
      nextDue[i] = rule(nextDue[i], now, intervalMs, pull[i]!);
      const took = runTime(rng);
      busyUntil[i] = now + took;
      const prev = lastStart[i];
      if (prev !== undefined) {
        freshness.push(now + took - prev);
        over.push(now + took - prev - (intervalMs + took));
        runTimes.push(took);
        if (now - prev > 1.5 * intervalMs) missed++;
      }
      lastStart[i] = now;
    }
  }
  freshness.sort((a, b) => a - b);
  over.sort((a, b) => a - b);
  return {
    result: {
      rule: name,
      runs: freshness.length,
      freshnessP50Seconds: round(quantile(freshness, 0.5) / 1000, 1),
      freshnessP99Seconds: round(quantile(freshness, 0.99) / 1000, 1),
      freshnessMaxSeconds: round((freshness[freshness.length - 1] ?? 0) / 1000, 1),
      overGoalP99Seconds: round(quantile(over, 0.99) / 1000, 1),
      overGoalMaxSeconds: round((over[over.length - 1] ?? 0) / 1000, 1),
      missedIntervalShare: round(missed / Math.max(1, freshness.length), 4),
    },
    runTimes,
  };
}

export function benchFreshness(partial: Partial<FreshnessOptions> = {}): FreshnessResult {
  const o: FreshnessOptions = { tenants: 5000, intervalMinutes: 5, tickMinutes: 5, maxLateSeconds: 10, hours: 24, seed: 13, jitterRatio: 0.1, ...partial };
  const runs = [simulate(o, "previous due time + interval (nextDueAt)", nextDueAt), simulate(o, "tick time + interval (the rule before)", tickTimeRule)];
  const times = [...runs[0]!.runTimes].sort((a, b) => a - b);
  const goal = o.intervalMinutes * 60 + quantile(times, 0.99) / 1000;
  return {
    options: o,
    runTimeP50Seconds: round(quantile(times, 0.5) / 1000, 1),
    runTimeP99Seconds: round(quantile(times, 0.99) / 1000, 1),
    rules: runs.map(({ result }) => ({ ...result, goalP99Seconds: round(goal, 1), meetsGoal: result.freshnessP99Seconds <= goal + o.maxLateSeconds && result.overGoalP99Seconds <= o.maxLateSeconds })),
  };
}

if (process.argv[1]?.endsWith("freshness.ts")) console.log(JSON.stringify(benchFreshness(), null, 2));
