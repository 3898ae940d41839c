// Tuning inside a training run: the first step records the kernel problems it dispatches (kernels/tuning.ts); those
// without a cached choice for this adapter are tuned (train/autotune.ts) for up to --tune-seconds
// before the second step, whose capture then holds the choices. What was tuned is saved to the tuning
// cache (train/tune_cache.ts) at once, so the next run starts where this one stopped (within a problem
// too: one the budget ended part-way keeps its best so far and goes on in the next run); what the
// budget left out keeps the default heuristic. The choices change which invocation computes a sum, never its
// value: the run's numbers are the same with or without tuning.
import { sync } from '../engine/index.ts';
import { recordProblems, type TuningProblem } from '../kernels/tuning.ts';
import { tunedTotals, tuneProblems } from './autotune.ts';
import { saveTuneCache, tuneCachePath } from './tune_cache.ts';

export class FirstStepTuning {
  private problems: TuningProblem[] = [];

  constructor(private readonly seconds: number, private readonly log: (line: string) => void) {}

  /** Whether the recorded step left problems to tune (and the budget allows any). */
  get wanted(): boolean { return this.seconds > 0 && this.problems.length > 0; }

  /** Run the first step, recording the problems without a cached choice. */
  record(step: () => void): void {
    if (this.seconds <= 0) { step(); return; }
    recordProblems(true);
    try { step(); } finally { this.problems = recordProblems(false).filter((p) => !p.tuned()); }
  }

  async tune(): Promise<void> {
    const problems = this.problems;
    this.problems = [];
    await sync();
    this.log(`tuning: ${problems.length} kernel problem${problems.length === 1 ? ' has' : 's have'} no cached choice for this adapter; timing their variants for up to ` +
      `${this.seconds} s before the second step (--tune-seconds; npm run tune -- [the same flags] does them all ahead)`);
    const r = await tuneProblems(problems, this.seconds * 1000);
    const any = r.done.length > 0 || r.partial !== null;
    let saved = `saved to ${tuneCachePath()}`;
    try { if (any) saveTuneCache(); } catch (e) { saved = `not saved (${(e as Error).message})`; }
    const changed = r.done.filter((t) => t.chosen !== t.def).length;
    const part = r.partial ? `; ${r.partial.problem.text} part-way (${r.partial.timed} of ${r.partial.of} candidates timed; a later run goes on from there)` : '';
    const untouched = r.left - (r.partial ? 1 : 0);
    this.log(`tuning: ${r.done.length} of ${problems.length} tuned in ${r.seconds.toFixed(0)} s, ${changed} away from the default (${tunedTotals(r).text})` +
      `${part}${untouched ? `; ${untouched} keep the default until a later run tunes them` : ''}${any ? `; ${saved}` : ''}`);
  }
}
