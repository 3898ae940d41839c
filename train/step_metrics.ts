// Running training/evaluation metrics kept on the GPU, so a step needs no read-back: each step adds
// its loss and top-1/top-5 hits into a small f32 tensor that the host reads every few steps (a read
// waits for the GPU, which on a CPU adapter busy-polls a core). A non-finite loss is counted apart
// and kept out of the sum, so one bad step under dynamic loss scaling does not poison the mean.
//   stats[0] Σ loss·N over steps with a finite loss    stats[4] Σ N over those steps
//   stats[1] Σ top-1 hits     stats[2] Σ top-5 hits    stats[3] Σ N (all images)
//   stats[5] steps with a non-finite loss              stats[6] the last loss    stats[7] steps
//   stats[8] steps skipped for Inf/NaN gradients (dynamic loss scaling)          stats[9..11] unused
// One invocation: N is at most a few hundred, and a dispatch costs more than the loop.
import { Tensor, launch, uniforms } from '../engine/index.ts';

export const STATS = 12;
const U = uniforms({ N: 'u32' });

const kernel = {
  key: () => 'train.accumulateStats',
  wgsl: () => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> loss: array<f32>;
@group(0) @binding(2) var<storage, read> hits: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
// a single invocation adds one step's numbers
@compute @workgroup_size(1)
fn main() {
  let l = loss[0];
  let n = f32(u.N);
  // exponent all ones = Inf or NaN (WGSL may assume floats are finite, so no l != l)
  if ((bitcast<u32>(l) & 0x7f800000u) == 0x7f800000u) {
    stats[5] += 1.0;
  } else {
    stats[0] += l * n;
    stats[4] += n;
  }
  var t1 = 0.0;
  var t5 = 0.0;
  for (var i = 0u; i < u.N; i++) { t1 += hits[2u * i]; t5 += hits[2u * i + 1u]; }
  stats[1] += t1;
  stats[2] += t5;
  stats[3] += n;
  stats[6] = l;
  stats[7] += 1.0;
}`,
};

const overflowKernel = {
  key: () => 'train.countOverflow',
  wgsl: () => /* wgsl */ `
@group(0) @binding(1) var<storage, read> flag: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
// a single invocation
@compute @workgroup_size(1)
fn main() { stats[8] += select(0.0, 1.0, flag[0] != 0.0); }`,
};

/** stats[8] += 1 if the optimizer's overflow flag is set (the step was skipped). */
export function countOverflow(stats: Tensor, flag: Tensor): void {
  launch(overflowKernel, undefined, { read: [flag], write: [stats], grid: [1, 1, 1] });
}

/** stats += this step's loss [1] (f32) and top-k hits [N, 2] (as topkCorrect returns them). */
export function accumulateStats(stats: Tensor, loss: Tensor, hits: Tensor): void {
  launch(kernel, undefined, { uniforms: U.pack({ N: hits.shape[0]! }), read: [loss, hits], write: [stats], grid: [1, 1, 1] });
}

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

/** Add two windows of stats on the host (epoch totals from read-back windows). */
export function addStats(a: Float64Array, b: ArrayLike<number>): void {
  for (let i = 0; i < STATS; i++) if (i !== 6) a[i]! += b[i]!;
  a[6] = b[6]!;
}
