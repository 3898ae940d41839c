// Resume equals continuous: 2N steps straight == N steps, stop (as Ctrl-C does), save, resume, N more.
// Compared: every weight, BN statistic and momentum buffer of the final checkpoints, and the training
// record (sampler position, augmentation RNG, step). The runs cross an epoch boundary, so the
// shuffle of the next epoch and the epoch bookkeeping are covered too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { train } from '../../train/trainer.ts';
import { readCheckpoint, saveCheckpoint } from '../../train/checkpoint_io.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { tinyConfigFor } from './tiny_config.ts';
import { syntheticDataset } from './synthetic_data.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const quiet = { log: () => {}, progress: false };

test('N steps + save + resume + N steps == 2N steps (weights, BN stats, momenta, record)', async () => {
  const data = { train: syntheticDataset(24, 3), test: null };
  // 3 steps per epoch; N = 4 stops inside epoch 2
  const cfg = (dir: string) => tinyConfigFor(path.join(root, dir), { batchSize: 8, epochs: 4, warmupEpochs: 1, maxSteps: 8, logEvery: 2, evalEvery: 0 });

  const straight = await train(cfg('straight'), { ...quiet, datasets: data });
  assert.is(straight.reason, 'max-steps');
  assert.is(path.basename(straight.checkpoint!), 'shufflenetv1-3_2.safetensors');

  let steps = 0;
  const first = await train(cfg('split'), { ...quiet, datasets: data, shouldStop: () => ++steps >= 4 });
  assert.is(first.reason, 'interrupted');
  assert.is(first.steps, 4);
  assert.is(path.basename(first.checkpoint!), 'shufflenetv1-2_1.safetensors');

  const second = await train({ ...cfg('split'), resume: true }, { ...quiet, datasets: data });
  assert.is(second.reason, 'max-steps');
  assert.is(second.steps, 8);
  assert.is(path.basename(second.checkpoint!), 'shufflenetv1-3_2.safetensors');

  const a = await readCheckpoint(straight.checkpoint!), b = await readCheckpoint(second.checkpoint!);
  assert.equal([...b.state.keys()], [...a.state.keys()]);
  assert.equal([...b.momenta.keys()].sort(), [...a.momenta.keys()].sort());
  assert.ok(a.momenta.size > 100, `momenta saved (${a.momenta.size})`);
  let worst = 0, where = '';
  for (const [kind, A, B] of [['state', a.state, b.state], ['momentum', a.momenta, b.momenta]] as const) {
    for (const [k, t] of A) {
      const u = B.get(k)!;
      for (let i = 0; i < t.data.length; i++) {
        const d = Math.abs(t.data[i]! - u.data[i]!) / Math.max(1, Math.abs(t.data[i]!));
        if (!(d <= worst)) { worst = d; where = `${kind} ${k}[${i}]: ${t.data[i]} vs ${u.data[i]}`; }
      }
    }
  }
  assert.ok(worst <= 1e-6, `largest difference ${worst} at ${where}`);
  const ra = a.training as Record<string, unknown>, rb = b.training as Record<string, unknown>;
  for (const k of ['step', 'sampler', 'rng', 'lossScale']) assert.equal(rb[k], ra[k], `training record ${k}`);
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
