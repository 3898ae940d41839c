// Resume equals continuous, bit for bit: 2N steps straight == N steps, stop (as Ctrl-C does), save,
// resume, N more. Compared exactly (Float32 bits): every weight, BN statistic and momentum buffer of
// the final checkpoints; and the training record (step, sampler position, augmentation RNG, loss-scale
// state, the unfinished epoch's metric sums, the per-epoch history, the configuration but its
// --out-dir) and metrics.jsonl. Left out as time-dependent: the record's epochSeconds, and the
// metrics lines' time, imagesPerSec and seconds. The runs cross an epoch boundary, so the shuffle of
// the next epoch and the epoch bookkeeping are covered too; the resumed run redoes the eager and the
// captured step where the straight run replays, so those must compute alike.
// fp32 with a fixed loss scale, and fp16 with a dynamic one started too high (2^20) with a window of
// 2: its first updates are skipped and the scale halves, then it doubles every 2 clean steps, across
// the split, so the loss-scale state a checkpoint records (scale and clean-step count) must carry over.
// Catches: any state not saved or not restored (momenta, BN statistics, sampler, RNG, step, loss
// scale, clean-step counter, window), a step that computes differently when eager, captured or
// replayed, and a resumed run whose read-back windows or epoch sums differ from the straight run's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { train } from '../../train/trainer.ts';
import { readCheckpoint, saveCheckpoint } from '../../train/checkpoint_io.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { firstBitDifference } from './bits.ts';
import type { TrainConfig } from '../../train/config.ts';
import type { TrainingRecord } from '../../train/resume.ts';
import { tinyConfigFor } from './tiny_config.ts';
import { syntheticDataset } from './synthetic_data.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const quiet = { log: () => {}, progress: false };

/** metrics.jsonl without its time-dependent fields. */
const metricsLines = (dir: string) => fs.readFileSync(path.join(root, dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => { const { time: _t, imagesPerSec: _i, seconds: _s, ...o } = JSON.parse(l) as Record<string, unknown>; return o; });

async function straightVsSplit(name: string, over: Partial<TrainConfig>, resumeOver: Partial<TrainConfig> = {}): Promise<TrainingRecord> {
  const data = { train: syntheticDataset(24, 3), test: null };
  // 3 steps per epoch; N = 4 stops inside epoch 2
  const cfg = (dir: string) => tinyConfigFor(path.join(root, `${name}-${dir}`), { batchSize: 8, epochs: 4, warmupEpochs: 1, maxSteps: 8, logEvery: 2, evalEvery: 0, ...over });

  const straight = await train(cfg('straight'), { ...quiet, datasets: data });
  assert.is(straight.reason, 'max-steps');
  assert.is(path.basename(straight.checkpoint!), 'shufflenetv1-3_2.safetensors');

  let steps = 0;
  const first = await train(cfg('split'), { ...quiet, datasets: data, shouldStop: () => ++steps >= 4 });
  assert.is(first.reason, 'interrupted');
  assert.is(first.steps, 4);
  assert.is(path.basename(first.checkpoint!), 'shufflenetv1-2_1.safetensors');

  // no flags given explicitly: everything, the loss-scale window too, comes from the checkpoint
  const second = await train({ ...cfg('split'), ...resumeOver, resume: true }, { ...quiet, datasets: data });
  assert.is(second.reason, 'max-steps');
  assert.is(second.steps, 8);
  assert.is(path.basename(second.checkpoint!), 'shufflenetv1-3_2.safetensors');

  const a = await readCheckpoint(straight.checkpoint!), b = await readCheckpoint(second.checkpoint!);
  assert.equal([...b.state.keys()], [...a.state.keys()]);
  assert.equal([...b.momenta.keys()].sort(), [...a.momenta.keys()].sort());
  assert.ok(a.momenta.size > 100, `momenta saved (${a.momenta.size})`);
  assert.ok([...a.state.keys()].some((k) => k.endsWith('running_var')), 'BN statistics saved');
  const diff = firstBitDifference('state', a.state, b.state) ?? firstBitDifference('momentum', a.momenta, b.momenta);
  assert.is(diff, null, `not bit-identical: ${diff}`);

  const ra = a.training as TrainingRecord, rb = b.training as TrainingRecord;
  for (const k of ['version', 'step', 'sampler', 'rng', 'lossScale', 'epochStats', 'history'] as const) assert.equal(rb[k], ra[k], `training record ${k}`);
  assert.equal({ ...rb.config, outDir: '' }, { ...ra.config, outDir: '' }, 'training record config');
  assert.is(ra.history.length, 2, 'two epochs in the history');
  assert.ok(ra.epochStats.some((x) => x !== 0), 'the unfinished epoch has metrics');
  assert.equal(metricsLines(`${name}-split`), metricsLines(`${name}-straight`), 'metrics.jsonl');
  return ra;
}

test('fp32: N steps + save + resume + N steps == 2N steps, bit for bit (weights, BN stats, momenta, record)', async () => {
  await straightVsSplit('fp32', {});
});

test('fp16, dynamic loss scale: N steps + save + resume + N steps == 2N steps, bit for bit (loss-scale state too)', async () => {
  // the resumed invocation asks for the default window: the checkpoint's (2) must win, as no flag is explicit
  const r = await straightVsSplit('fp16', { precision: 'fp16', dynamicLossScale: true, lossScale: 2 ** 20, lossScaleWindow: 2 }, { lossScaleWindow: 2000 });
  assert.is(r.config.lossScaleWindow, 2);
  assert.is(r.lossScale.dynamic, true);
  // some updates were skipped (the scale came down from 2^20) and it moved since: the state is not the start's
  assert.ok(r.lossScale.scale < 2 ** 20, `loss scale ${r.lossScale.scale}`);
});

test('--resume without a checkpoint, or with a weights-only one, fails clearly', async () => {
  const data = { train: syntheticDataset(16, 4), test: null };
  const dir = path.join(root, 'empty');
  let msg = '';
  try { await train({ ...tinyConfigFor(dir), resume: true }, { ...quiet, datasets: data }); } catch (e) { msg = (e as Error).message; }
  assert.match(msg, /--resume: no checkpoint .* in .*empty/);
  // a checkpoint without a training record (saved from a bare model): catches a resume that would
  // silently start over from step 0 with zero momenta
  const weights = path.join(root, 'weights-only.safetensors');
  const model = new ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 1 });
  await saveCheckpoint(weights, model);
  model.dispose();
  msg = '';
  try { await train({ ...tinyConfigFor(path.join(root, 'weights')), resume: weights }, { ...quiet, datasets: data }); } catch (e) { msg = (e as Error).message; }
  assert.is(msg, `--resume: ${weights} has no training record (it is a weights-only checkpoint); nothing to resume`);
});

test.run();
