// --init FILE (train/init_from.ts): a new run from a checkpoint's weights, from a MindSpore .ckpt or a
// .safetensors: the file's architecture replaces the preset's, its weights and momenta land in the
// model and the optimizer, a contradicting flag or --resume is refused, and a run started so trains
// from those weights with a fresh schedule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { readCheckpoint, saveCheckpoint, writeCheckpointFile } from '../../train/checkpoint_io.ts';
import { parseTrainArgs } from '../../train/config.ts';
import { applyInit, readInit } from '../../train/init_from.ts';
import { Session } from '../../train/session.ts';
import { train } from '../../train/trainer.ts';
import type { TrainingRecord } from '../../train/resume.ts';
import { syntheticDataset } from './synthetic_data.ts';
import { tinyConfigFor } from './tiny_config.ts';

const NET = 'tests/fixtures/shufflenet_0.5x_g3.ckpt';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'init-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  try { await p; } catch (e) {
    for (const part of parts) assert.ok((e as Error).message.includes(part), `expected ${part} in: ${(e as Error).message}`);
    return;
  }
  assert.unreachable('expected a rejection');
}

test('--init with --resume is refused at parse time', () => {
  assert.throws(() => parseTrainArgs(['--init', NET, '--resume']), /--init: cannot be combined with --resume/);
});

test('the file decides the architecture; an explicit flag that contradicts it is refused (catches a silent mismatch)', async () => {
  const cfg = tinyConfigFor(path.join(root, 'a'), { init: NET, modelSize: '1.0x', stem: 'cifar' });
  const init = (await readInit({ ...cfg, modelSize: '0.5x' }, new Set()))!;
  assert.equal([init.config.modelSize, init.config.group, init.config.stem], ['0.5x', 3, 'imagenet'], "a MindSpore file's stem is the seed's unless --stem says otherwise");
  assert.is((await readInit(cfg, new Set(['stem'])))!.config.stem, 'cifar', '--stem gives what the file cannot say');
  await rejectsWith(readInit(cfg, new Set(['model-size'])), `--init: ${NET} is a 0.5x g=3 imagenet-stem model; --model-size 1.0x disagrees (drop it`);
  const st = path.join(root, 'net.safetensors');
  await writeCheckpointFile(st, await readCheckpoint(NET));
  await rejectsWith(readInit({ ...cfg, init: st }, new Set(['model-size', 'stem'])),
    `--init: ${st} is a 0.5x g=3 imagenet-stem model; --model-size 1.0x and --stem cifar disagree`);
});

test('applyInit: the model holds the file\'s tensors and the optimizer its momenta (catches weights or momenta not loaded)', async () => {
  const out = path.join(root, 'b');
  fs.mkdirSync(out);
  const init = (await readInit(tinyConfigFor(out, { init: NET }), new Set()))!;
  const lines: string[] = [];
  const s = new Session(init.config, 'f32', syntheticDataset(32), null, (l) => lines.push(l), true);
  try {
    applyInit(s, init);
    for (const [k, t] of await s.model.readStateDict()) assert.equal(Array.from(t.data), Array.from(init.checkpoint.state.get(k)!.data), k);
    for (const [k, t] of s.opt.momenta()) assert.equal(Array.from(await t.read()), Array.from(init.checkpoint.momenta.get(k)!.data), `momentum ${k}`);
    assert.ok(lines.some((l) => l.startsWith(`initialised from ${NET} (0.5x g=3, imagenet stem): weights and momentum buffers`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('records no stem')), 'the assumed stem is said');
  } finally {
    s.dispose();
  }
});

test('a run started with --init trains from the file\'s weights, from step 0, with zero momenta when the file has none', async () => {
  const src = new ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 5 });
  const file = path.join(root, 'weights.safetensors');
  await saveCheckpoint(file, src);
  const start = await src.readStateDict();
  src.dispose();
  const out = path.join(root, 'c');
  const lines: string[] = [];
  const data = syntheticDataset(32);
  const r = await train(tinyConfigFor(out, { init: file, maxSteps: 2, evalEvery: 0, lr: 1e-4, minLr: 0 }), { log: (l) => lines.push(l), progress: false, datasets: { train: data, test: null } });
  assert.is(r.steps, 2);
  assert.ok(lines.some((l) => l.includes('momentum buffers start at zero (the file has none)')), lines.join('\n'));
  const end = await readCheckpoint(r.checkpoint!);
  assert.is((end.training as TrainingRecord).step, 2, 'a new run: its own step count');
  assert.is((end.training as TrainingRecord).config.init, file);
  // two steps at lr 1e-4 stay near the file's weights (relative change 1.7e-3 measured); the run's own seed-1 initialisation would be ~1.4 away
  const w0 = start.get('classifier.weight')!.data, w1 = end.state.get('classifier.weight')!.data;
  let d = 0, n = 0;
  for (let i = 0; i < w0.length; i++) { d += (w1[i]! - w0[i]!) ** 2; n += w0[i]! ** 2; }
  assert.ok(Math.sqrt(d / n) < 0.01, `classifier moved ${Math.sqrt(d / n)} (relative) from the file's weights`);
});

test.run();
