// Micro-batches (--micro-batch, train/micro_batch.ts, train/step.ts): the choice of the micro-batch
// (pure, with any adapter limits: tensors over the binding limit are bound in windows, so the seed
// preset's 128 runs whole where a buffer holds its activations, and in passes where one does not), the
// flag's errors, one pass per step being today's step to the bit, K passes accumulating the whole
// batch's gradient, and whole runs: training in micro-batches, and resuming such a run exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { Rng, Tensor, backward, deviceInfo, scope } from '../../engine/index.ts';
import { augmentBatch, byteTensor, writeBytes, PARAMS } from '../../kernels/augment.ts';
import { mul } from '../../kernels/elementwise.ts';
import { softmaxCrossEntropy, topkCorrect } from '../../kernels/softmax_xent.ts';
import { STATS, stepMetricsAccumulate } from '../../kernels/step_metrics.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { RunEstimate, chooseMicroBatchHere, largestActivation, largestBatch, wantsCpuEstimate } from '../../train/adapter.ts';
import { FlagError } from '../../train/flags.ts';
import { parseTrainArgs } from '../../train/config.ts';
import { autoChoiceLine, chooseMicroBatch, microBatchError } from '../../train/micro_batch.ts';
import { Sgd } from '../../train/sgd.ts';
import { trainStep, type MicroBatchInputs, type StepShape, type StepTensors } from '../../train/step.ts';
import { decodeStats } from '../../train/step_metrics.ts';
import { trainGeometry, trainTransforms } from '../../train/data/transforms.ts';
import { train } from '../../train/trainer.ts';
import { readCheckpoint } from '../../train/checkpoint_io.ts';
import { relL2 } from '../util/check.ts';
import { syntheticDataset } from './synthetic_data.ts';
import { tinyConfigFor } from './tiny_config.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'micro-batch-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const quiet = { log: () => {}, progress: false };
const MiB = 2 ** 20;
/** Mesa llvmpipe's limits: 128 MiB per binding, 2 GiB per buffer. */
const LLVMPIPE = { binding: 128 * MiB, buffer: 2 ** 31 };
/** An adapter whose buffers are no larger than its bindings (the WebGPU defaults: 128 MiB and 256 MiB). */
const SMALL = { binding: 128 * MiB, buffer: 256 * MiB };
const seed = parseTrainArgs(['--preset', 'seed']).config; // 2.0x g=3 at 224x224, batch 128

test('the seed preset runs its batch of 128 whole where a buffer holds its stem output (windows past the binding limit), in passes where none does, said in one line', () => {
  const largest = largestActivation(seed, 'f32');
  assert.equal(largest, { name: 'first_conv.0 output [48, 112, 112] f32', bytes: 48 * 112 * 112 * 4 });
  // llvmpipe: 294 MiB of stem output is over the 128 MiB binding limit but fits a 2 GiB buffer
  assert.equal(chooseMicroBatch(128, 0, largest, LLVMPIPE), { micro: 128, count: 1, auto: false, fits: 891 });
  const c = chooseMicroBatch(128, 0, largest, SMALL);
  assert.equal(c, { micro: 64, count: 2, auto: true, fits: 111 });
  const line = autoChoiceLine(128, c, largest, SMALL);
  assert.match(line, /^micro-batches: --batch-size 128 does not fit this adapter in one pass \(its largest activation, first_conv\.0 output \[48, 112, 112\] f32 times 128 images, would be 294 MiB, over the largest buffer \(maxBufferSize 256 MiB\)\), so each step runs 2 micro-batches of 64 /);
  assert.match(line, /batch-norm statistics are per micro-batch of 64 .*Choose another with --micro-batch M: 1, 2, 4, 8, 16, 32 or 64 fit here$/);
  // the seed preset on a CPU adapter is timed up front, whatever its batch; not on a GPU, not another preset
  assert.ok(wantsCpuEstimate(seed, true), 'seed preset on a CPU adapter: estimate up front');
  assert.not.ok(wantsCpuEstimate(seed, false), 'not on a GPU');
  assert.not.ok(wantsCpuEstimate({ ...seed, preset: 'fast' }, true), 'not for another preset');
  // f16 halves the bytes: 128 fits whole
  assert.equal(chooseMicroBatch(128, 0, largestActivation(seed, 'f16'), SMALL), { micro: 128, count: 1, auto: false, fits: 222 });
  // a batch with no divisor in between falls to the largest that fits: 127 is prime
  assert.equal(chooseMicroBatch(127, 0, largest, SMALL).micro, 1);
});

test('--micro-batch errors: not a divisor (naming both flags and the nearest valid values), larger than the batch, over the largest buffer; one image over a limit', () => {
  assert.is(microBatchError(128, 48), '--batch-size 128 is not a multiple of --micro-batch 48: use --micro-batch 32 or 64 (the divisors of 128 nearest 48), or --batch-size 96 or 144');
  assert.is(microBatchError(128, 200), '--micro-batch 200 is larger than --batch-size 128: use --micro-batch 128 (one pass per step) or a divisor of 128, or 0 to choose automatically');
  assert.is(microBatchError(128, 0), null);
  assert.is(microBatchError(128, 32), null);
  assert.throws(() => parseTrainArgs(['--batch-size', '100', '--micro-batch', '30']), (e: Error) => e instanceof FlagError && /use --micro-batch 25 or 50 .*--batch-size 90 or 120/.test(e.message));
  assert.is(parseTrainArgs(['--batch-size', '100', '--micro-batch', '25']).config.microBatch, 25);
  const largest = largestActivation(seed, 'f32');
  assert.throws(() => chooseMicroBatch(128, 128, largest, SMALL),
    (e: Error) => e.message === "--micro-batch 128: the largest activation (first_conv.0 output [48, 112, 112] f32, times 128 images) is 294 MiB, over this adapter's largest buffer (maxBufferSize 256 MiB); use --micro-batch 64 or less (the largest divisor of --batch-size 128 that fits)");
  // not even one image: a 1 MiB binding limit (a window holds one image at least), then a 2 MiB largest buffer
  assert.throws(() => chooseMicroBatch(128, 0, largest, { binding: MiB, buffer: 2 ** 31 }),
    (e: Error) => e.message === "one image's largest activation (first_conv.0 output [48, 112, 112] f32) is 2.30 MiB, over this adapter's 1.00 MiB storage binding limit (a binding window holds at least one image): no batch fits; use a smaller --image-size or --model-size");
  assert.throws(() => chooseMicroBatch(128, 0, largest, { binding: 128 * MiB, buffer: 2 * MiB }), (e: Error) => /is 2\.30 MiB, over this adapter's largest buffer \(maxBufferSize 2\.00 MiB\)/.test(e.message));
});

test('this adapter: a --micro-batch over its largest buffer is refused before any data is loaded; a batch no buffer holds is split, on a CPU adapter with the seed preset\'s cost', async () => {
  const out = path.join(root, 'refused');
  let msg = '';
  try { await train({ ...seed, batchSize: 100_000, microBatch: 100_000, outDir: out }, quiet); } catch (e) { msg = (e as Error).message; }
  assert.match(msg, /^--micro-batch 100000: the largest activation \(first_conv\.0 output \[48, 112, 112\] f32, times 100000 images\) is \d+ MiB, over this adapter's largest buffer .*; use --micro-batch \d+ or less/);
  assert.not.ok(fs.existsSync(path.join(out, 'metrics.jsonl')), 'nothing written');
  // 0.5x at 64x64 with a batch whose stem output (96 KiB an image) is over the largest buffer: split in passes here; timed on a CPU adapter
  const lines: string[] = [];
  const perImage = largestActivation({ ...seed, modelSize: '0.5x', imageSize: 64 }, 'f32').bytes;
  const batch = 2 * (Math.floor(deviceInfo().limits.maxBufferSize / perImage / 2) + 1); // even, so 2 passes hold it
  const cfg = { ...seed, modelSize: '0.5x' as const, imageSize: 64, batchSize: batch };
  assert.ok(largestBatch(cfg, 'f32') < batch);
  const micro = await chooseMicroBatchHere(cfg, 'f32', (l) => lines.push(l));
  assert.ok(micro < batch && batch % micro === 0, `micro-batch ${micro}`);
  assert.match(lines[0]!, new RegExp(`^micro-batches: --batch-size ${batch} does not fit this adapter in one pass .* runs \\d+ micro-batches of \\d+ `));
  if (deviceInfo().software) {
    assert.ok(lines.some((l) => l.startsWith('timing a few 8-image steps')), lines.join('\n'));
    assert.match(lines.at(-1)!, new RegExp(`^On this CPU adapter \\(.*\\) a step of ${batch} images will take about .+ \\(timed at batch 8, scaled\\): about .+ per epoch of \\d+ steps?, .+ for 250 epochs\\. Training goes on; for a run sized for a CPU, use --preset fast\\.$`));
  } else {
    assert.is(lines.length, 1, lines.join('\n'));
  }
});

test('the cost measured in the first replayed steps: per epoch, for all epochs, and what is left to --max-steps (seed preset, CPU adapter)', () => {
  const e = new RunEstimate();
  e.start(2);
  const cfg = { ...seed, logEvery: 20 };
  assert.is(e.line(6, cfg, 468, 8), null, 'not before 5 timed steps');
  const line = e.line(7, cfg, 468, 8);
  if (!deviceInfo().software) { assert.is(line, null, 'only on a CPU adapter'); return; }
  assert.match(line!, /^estimated .+ per epoch \(\d+ ms\/step\) on this CPU adapter \(.*\), .+ for 250 epochs \(.+ more to --max-steps 8\); for a run sized for a CPU, try --preset fast$/);
  assert.is(e.line(8, cfg, 468, 8), null, 'said once');
  const whole = new RunEstimate();
  whole.start(0);
  assert.match(whole.line(5, cfg, 468, 468 * 250)!, / for 250 epochs; for a run sized/);
  const ended = new RunEstimate(); // the line falls on the --max-steps step itself: nothing is left to say
  ended.start(0);
  assert.match(ended.line(5, cfg, 468, 5)!, / for 250 epochs; for a run sized/);
});

// ---- the step itself, on fixed inputs -------------------------------------------------------------

const N = 16, data = syntheticDataset(N, 7);
const PIXELS = 3 * 32 * 32;
const shapeOf = (M: number): StepShape => ({ dims: { N: M, C: 3, H: 32, W: 32 }, imageSize: 32, dtype: 'f32', mean: data.mean, std: data.std, smoothing: 0.1 });

/** The batch's crops, the same for every run of a test. */
function crops(step: number): Float32Array {
  return trainTransforms(new Rng(100 + step), N, trainGeometry(data, 32, true));
}

/** Step tensors for K passes of N/K images, written with the batch (pixels, labels, crops). */
function stepTensors(K: number, opt: Sgd, params: Float32Array): StepTensors {
  const M = N / K;
  const passes: MicroBatchInputs[] = Array.from({ length: K }, (_, k) => {
    const src = byteTensor(M * PIXELS);
    writeBytes(src, data.images.subarray(k * M * PIXELS, (k + 1) * M * PIXELS));
    return { src, params: Tensor.from(params.subarray(k * M * PARAMS, (k + 1) * M * PARAMS), [M, PARAMS]), labels: Tensor.from(Float32Array.from(data.labels.subarray(k * M, (k + 1) * M)), [M]) };
  });
  return { ...passes[0]!, more: passes.slice(1), scale: opt.scale, stats: Tensor.zeros([STATS]) };
}

function disposeTensors(t: StepTensors): void {
  for (const m of [t, ...(t.more ?? [])]) for (const x of [m.src, m.params, m.labels]) x.dispose();
  t.stats.dispose();
}

const net = () => new ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 5 });

/** Every value of the model's state (weights, BN statistics) and momenta, by name. */
async function stateOf(m: ShuffleNetV1, opt: Sgd): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of m.stateDict()) out.set(k, await t.read());
  for (const [k, t] of opt.momenta()) out.set(`momentum ${k}`, await t.read());
  return out;
}

test('one pass per step is the step as it was before micro-batches, to the bit (3 steps: weights, BN statistics, momenta, metrics)', async () => {
  // the step as train/step.ts ran it before micro-batches: one pass, metrics before backward
  const before = (model: ShuffleNetV1, opt: Sgd, t: StepTensors, s: StepShape) => scope(() => {
    const logits = model.forward(augmentBatch(t.src, s.dims, t.params, { size: s.imageSize, dtype: s.dtype }, s.mean, s.std));
    const loss = softmaxCrossEntropy(logits, t.labels, { smoothing: s.smoothing });
    stepMetricsAccumulate(t.stats, loss, topkCorrect(logits, t.labels));
    backward(mul(loss, t.scale));
    opt.step();
    opt.zeroGrad();
  });
  const runs = [];
  for (const step of [before, trainStep]) {
    const model = net(), opt = new Sgd(model.parameters(), { lossScale: 1024 });
    let stats: Float32Array = new Float32Array(0);
    for (let i = 0; i < 3; i++) {
      opt.setHyper(0.05, 0.9, 4e-5);
      const t = stepTensors(1, opt, crops(i));
      step(model, opt, t, shapeOf(N));
      stats = await t.stats.read();
      disposeTensors(t);
    }
    runs.push({ state: await stateOf(model, opt), stats });
    opt.dispose();
    model.dispose();
  }
  const [a, b] = runs;
  assert.equal([...b!.stats], [...a!.stats], 'metrics');
  for (const [k, x] of a!.state) {
    const y = b!.state.get(k)!;
    const i = x.findIndex((v, j) => !Object.is(v, y[j]));
    assert.ok(i < 0, `${k}[${i}]: ${y[i]} vs ${x[i]} before micro-batches`);
  }
});

// The comparison without batch-norm effects: the model in eval mode (BN normalises with its running
// statistics, and its backward is the eval-mode one), so an image's forward and backward do not
// depend on the rest of its batch. The accumulated gradient and the whole batch's then differ only
// in the order of f32 sums over images (a weight's gradient sums up to N·H·W = 16384 terms at the
// stem: in one reduction, or in 4 of 4096 whose results are added) and in roundings of kernels that
// tile by batch size. Bound: a reordered f32 sum of n terms moves by about sqrt(n)·u relative to the
// sum of the terms' magnitudes (u = 2^-24; 7.6e-6 at n = 16384), and a gradient's terms cancel, so
// allowing that magnitude sum ~10x the gradient's norm gives 1e-4 (far above the 2.9e-7 measured on
// llvmpipe, far below what the faults this catches give: a loss not divided by K (rel 3), a pass's
// gradient lost (~0.3-1)).
const GRAD_BOUND = 1e-4;

test(`4 passes of 4 accumulate the gradient of the whole batch of 16 (eval-mode BN) within rel-L2 ${GRAD_BOUND}; metrics count every image once`, async () => {
  const runs = [];
  for (const K of [1, 4]) {
    const model = net().eval(), opt = new Sgd(model.parameters(), { lossScale: 1024 });
    opt.setHyper(0.05, 0.9, 0); // no decay and zero momenta: after one step the momenta are the gradient / S, exactly
    const t = stepTensors(K, opt, crops(0));
    trainStep(model, opt, t, shapeOf(N / K));
    runs.push({ state: await stateOf(model, opt), stats: decodeStats(await t.stats.read()) });
    disposeTensors(t);
    opt.dispose();
    model.dispose();
  }
  const [whole, acc] = runs;
  assert.equal([acc!.stats.images, acc!.stats.steps, acc!.stats.top1, acc!.stats.top5], [N, 1, whole!.stats.top1, whole!.stats.top5], 'metrics: N images, one step, the same hits');
  assert.ok(Math.abs(acc!.stats.loss - whole!.stats.loss) <= 1e-6 * whole!.stats.loss, `mean loss ${acc!.stats.loss} vs ${whole!.stats.loss}`);
  let worst = 0, where = '', tensors = 0;
  for (const [k, g] of whole!.state) {
    if (!k.startsWith('momentum ')) continue;
    tensors++;
    const { rel } = relL2(acc!.state.get(k)!, g);
    if (!(rel <= worst)) { worst = rel; where = k; }
  }
  assert.ok(tensors > 100, `${tensors} gradients compared`);
  assert.ok(worst <= GRAD_BOUND, `largest rel-L2 ${worst.toExponential(2)} at ${where}`);
  console.log(`  accumulated vs whole-batch gradient: largest rel-L2 ${worst.toExponential(2)} (${where}) over ${tensors} tensors`);
});

// ---- whole runs --------------------------------------------------------------------------------------

test('a run with --micro-batch 16 of 16 (M = N) is the run without the flag, bit for bit', async () => {
  const data16 = { train: syntheticDataset(32, 9), test: null };
  const cfg = (dir: string, microBatch: number) => tinyConfigFor(path.join(root, dir), { batchSize: 16, microBatch, epochs: 2, maxSteps: 3, logEvery: 1, evalEvery: 0 });
  const a = await train(cfg('flagless', 0), { ...quiet, datasets: data16 });
  const b = await train(cfg('whole', 16), { ...quiet, datasets: data16 });
  const x = await readCheckpoint(a.checkpoint!), y = await readCheckpoint(b.checkpoint!);
  for (const [kind, A, B] of [['state', x.state, y.state], ['momentum', x.momenta, y.momenta]] as const) {
    for (const [k, t] of A) {
      const u = B.get(k)!.data;
      const i = Array.from(t.data).findIndex((v, j) => !Object.is(v, u[j]));
      assert.ok(i < 0, `${kind} ${k}[${i}]: ${u[i]} vs ${t.data[i]}`);
    }
  }
});

test('training in 4 micro-batches of 4: the run says so, logs its memory plan and the measured peak, and learns', async () => {
  const out = path.join(root, 'micro');
  const d = syntheticDataset(64, 1);
  const lines: string[] = [];
  const r = await train(tinyConfigFor(out, { microBatch: 4, epochs: 4, evalEvery: 0 }), { ...quiet, log: (l) => lines.push(l), datasets: { train: d, test: null } });
  assert.is(r.reason, 'done');
  assert.is(r.steps, 16);
  assert.ok(lines.some((l) => /^model ShuffleNetV1 .* 4 steps of 16 \(each 4 micro-batches of 4: gradients accumulated into one update, batch-norm statistics per micro-batch\) per epoch/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^memory plan: about [\d.]+ MiB .*activations kept for backward [\d.]+ MiB \(a micro-batch of 4, f32\)/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^memory: peak [\d.]+ MiB of live tensors in the first \d+ steps \(the plan said [\d.]+ MiB\)/.test(l)), lines.join('\n'));
  const first = r.history[0]!.trainLoss, last = r.history.at(-1)!.trainLoss;
  assert.ok(Number.isFinite(last) && last < first - 0.3, `train loss ${first} -> ${last}`);
});

test('resume with micro-batches is exact: N steps + save + resume + N steps == 2N steps (weights, BN stats, momenta, record)', async () => {
  const d = { train: syntheticDataset(24, 3), test: null };
  // batch 8 in 2 passes of 4, 3 steps per epoch; N = 4 stops inside epoch 2
  const cfg = (dir: string) => tinyConfigFor(path.join(root, dir), { batchSize: 8, microBatch: 4, epochs: 4, warmupEpochs: 1, maxSteps: 8, logEvery: 2, evalEvery: 0 });
  const straight = await train(cfg('r-straight'), { ...quiet, datasets: d });
  let steps = 0;
  const first = await train(cfg('r-split'), { ...quiet, datasets: d, shouldStop: () => ++steps >= 4 });
  assert.is(first.steps, 4);
  const second = await train({ ...cfg('r-split'), resume: true }, { ...quiet, datasets: d });
  assert.is(second.steps, 8);
  assert.is(second.config.microBatch, 4, 'the micro-batch is part of the checkpoint\'s configuration');
  const a = await readCheckpoint(straight.checkpoint!), b = await readCheckpoint(second.checkpoint!);
  let worst = 0, where = '';
  for (const [kind, A, B] of [['state', a.state, b.state], ['momentum', a.momenta, b.momenta]] as const) {
    for (const [k, t] of A) {
      const u = B.get(k)!;
      for (let i = 0; i < t.data.length; i++) {
        const diff = Math.abs(t.data[i]! - u.data[i]!) / Math.max(1, Math.abs(t.data[i]!));
        if (!(diff <= worst)) { worst = diff; where = `${kind} ${k}[${i}]: ${t.data[i]} vs ${u.data[i]}`; }
      }
    }
  }
  // as tests/train/resume.test.ts: the same operations in the same order, so equal up to the
  // replayed-vs-eager step after the resume (measured: identical)
  assert.ok(worst <= 1e-6, `largest difference ${worst} at ${where}`);
  const ra = a.training as Record<string, unknown>, rb = b.training as Record<string, unknown>;
  for (const k of ['step', 'sampler', 'rng', 'lossScale']) assert.equal(rb[k], ra[k], `training record ${k}`);
});

test.run();
