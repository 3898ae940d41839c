// `--checkpoint-every`: resumable checkpoints inside an epoch, so a long epoch that is killed (or
// whose machine goes away) loses at most that much work. `N` counts steps, `Nm` minutes of wall time
// (the default, 30m), `0` turns them off. The count restarts at every checkpoint of any kind (epoch
// end, Ctrl-C, periodic), so an epoch shorter than the period never writes one.
import { FlagError } from './flags.ts';

export type CheckpointEvery = { steps: number } | { minutes: number } | null;

/** `N` -> N steps, `Nm` -> N minutes (N may be fractional), `0` -> null (off). */
export function parseCheckpointEvery(text: string): CheckpointEvery {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !Number.isFinite(n) || (!m[2] && !Number.isInteger(n))) {
    throw new FlagError(`--checkpoint-every: expected N (steps), Nm (minutes, e.g. 30m) or 0 (never), got '${text}'`);
  }
  if (n === 0) return null;
  return m[2] ? { minutes: n } : { steps: n };
}

/** When the next periodic checkpoint is due; `now` (ms) is injectable for tests. */
export class CheckpointClock {
  private lastStep: number;
  private lastAt: number;

  constructor(private readonly every: CheckpointEvery, step: number, private readonly now: () => number = () => performance.now()) {
    this.lastStep = step;
    this.lastAt = now();
  }

  /** Whether a checkpoint is due after `step`. */
  due(step: number): boolean {
    if (!this.every) return false;
    if ('steps' in this.every) return step - this.lastStep >= this.every.steps;
    return this.now() - this.lastAt >= this.every.minutes * 60_000;
  }

  /** A checkpoint (of any kind) was written after `step`. */
  saved(step: number): void {
    this.lastStep = step;
    this.lastAt = this.now();
  }
}
