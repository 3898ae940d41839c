// The host side of the running metrics the step accumulates on the GPU (kernels/step_metrics.ts holds
// the kernels and the layout of the stats tensor): decoding a read-back window, and epoch totals.
import { STATS } from '../kernels/step_metrics.ts';

export interface Metrics {
  /** Mean loss over images of steps whose loss was finite (NaN if none). */
  loss: number;
  top1: number;
  top5: number;
  images: number;
  steps: number;
  nonFiniteSteps: number;
  /** Updates skipped because a gradient overflowed (dynamic loss scaling). */
  skippedSteps: number;
  lastLoss: number;
}

export function decodeStats(s: ArrayLike<number>): Metrics {
  return {
    loss: s[4]! > 0 ? s[0]! / s[4]! : NaN,
    top1: s[3]! > 0 ? s[1]! / s[3]! : NaN,
    top5: s[3]! > 0 ? s[2]! / s[3]! : NaN,
    images: s[3]!,
    steps: s[7]!,
    nonFiniteSteps: s[5]!,
    skippedSteps: s[8]!,
    lastLoss: s[6]!,
  };
}

/** Add two windows of stats on the host (epoch totals from read-back windows); the last loss is the newer one's. */
export function addStats(a: Float64Array, b: ArrayLike<number>): void {
  for (let i = 0; i < STATS; i++) if (i !== 6) a[i]! += b[i]!;
  a[6] = b[6]!;
}
