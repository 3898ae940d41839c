// Timing kernel candidates and keeping the fastest (kernels/tuning.ts holds the choices, train/tune_cache.ts
// the disk copy). Used by `npm run tune` (every problem of a pass, no time limit) and by the trainer
// (the problems its first step dispatched that have no cached choice, within --tune-seconds). A
// candidate replaces the default heuristic only when it is more than 3% faster, so a tuned kernel is
// never slower than the default beyond noise; every candidate computes the default's bits, so tuning
// never changes a result (and a resumed run stays exact whatever was tuned in between).
// The fastest of many noisy timings is biased low (the winner's curse: with ~30 candidates one often
// beats the default by luck alone), so a sweep's winner is timed again against the default in
// alternating rounds and kept only if it still wins by 3% in the median round; the times recorded are
// those rounds' medians, not the sweep's lucky minimum.
import { sync } from '../engine/index.ts';
import { choiceText, type Choice, type TuningProblem } from '../kernels/tuning.ts';

/**
 * Median ms of up to 5 runs after one untimed run (which compiles the pipeline), each waited for; a
 * problem whose runs take long stops once 250 ms have been timed (at least one run), so that large
 * problems (the seed preset's layers on a CPU) fit a tuning budget at all.
 */
async function median(run: () => void): Promise<number> {
  run();
  await sync();
  const ms: number[] = [];
  while (ms.length < 5 && !(ms.length > 0 && ms.reduce((a, b) => a + b, 0) >= 250)) {
    const t0 = performance.now();
    run();
    await sync();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[ms.length >> 1]!;
}

/** Rounds of the default and the sweep's winner timed alternately before the winner is kept. */
export const CONFIRM_ROUNDS = 3;

/**
 * The sweep's winner against the default, CONFIRM_ROUNDS alternating rounds: the median round's ratio
 * must still be under 0.97. Returns the choice kept and the two medians of the rounds' times.
 */
async function confirm(run: (c: Choice) => void, def: Choice, best: Choice): Promise<{ c: Choice; ms: number; defMs: number }> {
  const ratios: number[] = [], defs: number[] = [], bests: number[] = [];
  for (let r = 0; r < CONFIRM_ROUNDS; r++) {
    const d = await median(() => run(def)), b = await median(() => run(best));
    defs.push(d); bests.push(b); ratios.push(b / d);
  }
  const mid = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
  const defMs = mid(defs);
  return mid(ratios) < 0.97 ? { c: best, ms: mid(bests), defMs } : { c: def, ms: defMs, defMs };
}

export interface Tuned { problem: TuningProblem; def: Choice; defMs: number; chosen: Choice; ms: number }

export interface TuneReport {
  /** The problems tuned to the end, in order (those the time budget left out are not here). */
  done: Tuned[];
  /** The problem the budget ended part-way, its best so far kept: `timed` of `of` candidates timed. */
  partial: (Tuned & { timed: number; of: number }) | null;
  /** Problems not tuned to the end because the budget ran out (the partial one among them). */
  left: number;
  seconds: number;
}

const sameChoice = (a: Choice, b: Choice) => choiceText(a) === choiceText(b);

/**
 * Tune `problems` in order, recording each one's choice (kernels/tuning.ts; the caller saves them),
 * until `budgetMs` has passed. A problem the budget ends part-way keeps its choice so far (the best
 * candidate timed, if more than 3% faster than the default, else the default) and how many candidates
 * were timed; the next tuning of it (a later run) times the default, that choice and the candidates
 * not yet timed, so every run gets further, however small its budget: each problem it starts times at
 * least one candidate it has not timed before. `each` hears every problem as it is done.
 */
export async function tuneProblems(problems: readonly TuningProblem[], budgetMs = Infinity, each?: (t: Tuned) => void): Promise<TuneReport> {
  const t0 = performance.now();
  const over = () => performance.now() - t0 > budgetMs;
  const done: Tuned[] = [];
  let partial: TuneReport['partial'] = null;
  for (const problem of problems) {
    if (over()) break;
    const all = problem.candidates();
    const def = all[0]!, before = problem.partial();
    const from = before ? Math.min(before.timed, all.length) : 1; // the first candidate not yet timed
    const p = problem.open();
    try {
      const defMs = await median(() => p.run(def));
      let best = { c: def, ms: defMs };
      if (before && !sameChoice(before.choice, def)) best = { c: before.choice, ms: await median(() => p.run(before.choice)) };
      let timed = from;
      for (const c of all.slice(from)) {
        if (timed > from && over()) break;
        const ms = await median(() => p.run(c));
        if (ms < best.ms) best = { c, ms };
        timed++;
      }
      const chosen = best.ms < 0.97 * defMs ? await confirm((c) => p.run(c), def, best.c) : { c: def, ms: defMs, defMs };
      const t = { problem, def, defMs: chosen.defMs, chosen: chosen.c, ms: chosen.ms };
      if (timed < all.length) {
        problem.keep(chosen.c, chosen.ms, chosen.defMs, timed);
        partial = { ...t, timed, of: all.length };
        break;
      }
      problem.keep(chosen.c, chosen.ms, chosen.defMs);
      done.push(t);
      each?.(t);
    } finally {
      p.dispose();
    }
  }
  return { done, partial, left: problems.length - done.length, seconds: (performance.now() - t0) / 1000 };
}

/** `before -> after ms (ratio)` over the problems a report tuned. */
export function tunedTotals(r: TuneReport): { before: number; after: number; text: string } {
  const before = r.done.reduce((a, t) => a + t.defMs, 0), after = r.done.reduce((a, t) => a + t.ms, 0);
  return { before, after, text: `${before.toFixed(1)} ms with the defaults, ${after.toFixed(1)} ms tuned (${(before / Math.max(after, 1e-9)).toFixed(2)}x)` };
}
