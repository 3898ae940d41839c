// Running training/evaluation metrics kept on the GPU, so a step needs no read-back: each step adds
// its loss and top-1/top-5 hits into a small f32 tensor that the host reads every few steps (a read
// waits for the GPU, which on a CPU adapter busy-polls a core). A non-finite loss is counted apart
// and kept out of the sum, so one bad step under dynamic loss scaling does not poison the mean.
//   stats[0] Σ loss·N over steps with a finite loss    stats[4] Σ N over those steps
//   stats[1] Σ top-1 hits     stats[2] Σ top-5 hits    stats[3] Σ N (all images)
//   stats[5] steps with a non-finite loss              stats[6] the last loss    stats[7] steps
//   stats[8] steps skipped for Inf/NaN gradients (dynamic loss scaling)          stats[9..11] unused
// The host side (decoding, epoch sums) is train/step_metrics.ts.
// One invocation: N is at most a few hundred, and a dispatch costs more than the loop. No autograd.
import type { Tensor } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { nonFinite } from './cast.ts';

/** Floats in a stats tensor. */
export const STATS = 12;

const accumulateKernel = defineKernel({
  name: 'stepMetrics.accumulate',
  variant: () => '',
  uniforms: { N: 'u32' },
  buffers: () => [input('loss', 'f32'), input('hits', 'f32'), output('stats', 'f32')],
  body: () => /* wgsl */ `
// a single invocation adds one step's numbers
@compute @workgroup_size(1)
fn main() {
  let l = loss[0];
  let n = f32(u.N);
  if (any(${nonFinite('vec4f(l)')})) {
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
});

const overflowKernel = defineKernel({
  name: 'stepMetrics.overflow',
  variant: () => '',
  buffers: () => [input('flag', 'f32'), output('stats', 'f32')],
  body: () => /* wgsl */ `
// a single invocation
@compute @workgroup_size(1)
fn main() { stats[8] += select(0.0, 1.0, flag[0] != 0.0); }`,
});

/** stats += this step's loss [1] (f32) and top-k hits [N, 2] (as topkCorrect returns them). */
export function stepMetricsAccumulate(stats: Tensor, loss: Tensor, hits: Tensor): void {
  accumulateKernel.run(undefined, { uniforms: { N: hits.shape[0]! }, buffers: { loss, hits, stats }, grid: [1, 1, 1] });
}

/** stats[8] += 1 if the optimizer's overflow flag is set (the step was skipped). */
export function stepMetricsOverflow(stats: Tensor, flag: Tensor): void {
  overflowKernel.run(undefined, { buffers: { flag, stats }, grid: [1, 1, 1] });
}
