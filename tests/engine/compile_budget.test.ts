// Compile budget: every pipeline a ShuffleNetV1 training step and an eval forward create (augment,
// forward, loss, backward, SGD, metrics; each group, both stems, f32 and f16) must create in bounded
// time on this adapter, from bounded WGSL. A kernel generator that unrolls too far, or puts a branch per
// unrolled statement in a loop body (SwiftShader's compile time doubles with about each more: see
// kernels/conv2d_depthwise.ts loadGroup), fails here by name instead of stalling the suite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, Tensor, noGrad, pipelineCosts, sync, type DType } from '../../engine/index.ts';
import { byteTensor, writeBytes, PARAMS } from '../../kernels/augment.ts';
import { STATS } from '../../kernels/step_metrics.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { GROUPS, STEMS } from '../../model/architecture.ts';
import { Sgd } from '../../train/sgd.ts';
import { trainStep } from '../../train/step.ts';
import { testParams } from '../../train/data/transforms.ts';
import '../util/gpu.ts';

// Bounds, on the smaller of each pipeline's wall and CPU time to create: wall time grows when the
// machine is loaded (a 13x4 pointwise GEMM of 1.1 s of CPU read 42 s on two loaded, shared cores), the
// process's CPU time when GPU work runs meanwhile (eager ops submitted earlier); a slow compile raises
// both.
// The slowest pipelines are conv2d_pointwise's wgrad tiles of up to 512 accumulators (its cap, tuned on
// llvmpipe): a 20x25 tile takes 3.4 s of CPU on SwiftShader and 0.8 s on llvmpipe, from the largest
// WGSL, about 64,000 characters. The blowups this guards against grow exponentially (a branch per
// unrolled load in a loop body: conv2d_direct's wgrad took 83 s, a 4x4 conv2d_depthwise tile over
// 100 s), so 15 s still catches them.
const MAX_PIPELINE_MS = 15_000;
const MAX_WGSL_CHARS = 72_000;

const N = 2, SIZE = 32;
const mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25];

/** One training step and one eval forward of this model (their pipelines are created on the way). */
async function step(group: (typeof GROUPS)[number], stem: (typeof STEMS)[number], dtype: DType): Promise<void> {
  const model = new ShuffleNetV1({ size: '0.5x', group, classes: 10, imageSize: SIZE, stem, seed: 1 });
  const opt = new Sgd(model.parameters());
  const t = { src: byteTensor(N * 3 * SIZE * SIZE), params: Tensor.from(testParams(N, { height: SIZE, width: SIZE }, SIZE), [N, PARAMS]),
    labels: Tensor.from([3, 7], [N]), scale: opt.scale, stats: Tensor.zeros([STATS]) };
  const rng = new Rng(group);
  writeBytes(t.src, Uint8Array.from({ length: N * 3 * SIZE * SIZE }, () => rng.int(256)));
  trainStep(model, opt, t, { dims: { N, C: 3, H: SIZE, W: SIZE }, imageSize: SIZE, dtype, mean, std, smoothing: 0.1 });
  const x = Tensor.zeros([N, 3, SIZE, SIZE], dtype);
  noGrad(() => model.eval().forward(x)).dispose();
  await sync();
  for (const u of [x, t.src, t.params, t.labels, t.stats]) u.dispose();
  model.dispose();
}

// Every pipeline this process has created, so run alone this file checks exactly the model's.
test(`every pipeline of ShuffleNetV1 steps creates in under ${MAX_PIPELINE_MS / 1000} s from under ${MAX_WGSL_CHARS} WGSL characters`, async () => {
  for (const group of GROUPS) for (const stem of STEMS) for (const dtype of ['f32', 'f16'] as const) await step(group, stem, dtype);
  const rows = [...pipelineCosts()].map(([k, c]) => ({ k, ...c }));
  assert.ok(rows.length > 50, `${rows.length} pipelines`);
  if (process.env.COMPILE_BUDGET_LOG) {
    const top = [...rows].sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 8).map((r) => `  ${r.k} ${r.cpuMs.toFixed(0)} ms CPU, ${r.ms.toFixed(0)} ms wall, ${r.wgslChars} chars`);
    const total = (f: (r: (typeof rows)[number]) => number) => (rows.reduce((a, r) => a + f(r), 0) / 1000).toFixed(1);
    console.log(`${rows.length} pipelines, ${total((r) => r.cpuMs)} s CPU, ${total((r) => r.ms)} s wall in all; slowest:\n${top.join('\n')}`);
  }
  const slow = rows.filter((r) => Math.min(r.ms, r.cpuMs) > MAX_PIPELINE_MS).map((r) => `${r.k} ${(r.ms / 1000).toFixed(1)} s wall, ${(r.cpuMs / 1000).toFixed(1)} s CPU`);
  const big = rows.filter((r) => r.wgslChars > MAX_WGSL_CHARS).map((r) => `${r.k} ${r.wgslChars} chars`);
  assert.equal(slow, [], 'pipelines over the creation-time budget');
  assert.equal(big, [], 'pipelines over the WGSL size budget');
});

test.run();
