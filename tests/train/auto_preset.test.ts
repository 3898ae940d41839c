// `npm run train` without --preset: seed on a GPU adapter, fast on a CPU adapter, said in its first
// lines with the reason, the estimated time and how to ask for the other; an explicit --preset is
// obeyed. The parser with either kind of adapter, then the program itself (one step on a tiny
// Fashion-MNIST-shaped set) on whatever adapter this machine has.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PRESETS, parseTrainArgs } from '../../train/config.ts';
import { startCli } from './spawn_cli.ts';
import { writeTinyFashionMnist } from './tiny_fashion_mnist.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'auto-preset-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

test('--preset auto (the default) is fast on a CPU adapter, seed on a GPU or with no adapter known; explicit presets win', () => {
  const cpu = parseTrainArgs([], { software: true });
  assert.equal(cpu.preset, { preset: 'fast', auto: true });
  assert.equal([cpu.config.preset, cpu.config.modelSize, cpu.config.imageSize, cpu.config.stem, cpu.config.epochs], ['fast', '0.5x', 32, 'cifar', PRESETS.fast.epochs]);
  assert.equal(parseTrainArgs([], { software: false }).preset, { preset: 'seed', auto: true });
  assert.is(parseTrainArgs([]).config.modelSize, '2.0x');
  const seed = parseTrainArgs(['--preset', 'seed'], { software: true });
  assert.equal(seed.preset, { preset: 'seed', auto: false });
  assert.equal([seed.config.modelSize, seed.config.imageSize, seed.config.epochs], ['2.0x', 224, 250]);
  assert.is(parseTrainArgs(['--preset', 'fast'], { software: false }).config.modelSize, '0.5x');
  assert.is(parseTrainArgs(['--image-size', '64'], { software: true }).config.imageSize, 64, 'flags still override the chosen preset');
});

test('--preset smoke scales --lr and --min-lr linearly with the batch (relative to 128) unless --lr is given', () => {
  const c = parseTrainArgs(['--preset', 'smoke']).config;
  assert.is(c.batchSize, 16);
  assert.ok(Math.abs(c.lr - 0.05 * 16 / 128) < 1e-15, `lr ${c.lr}`);
  assert.ok(Math.abs(c.minLr - 0.0005 * 16 / 128) < 1e-15, `min-lr ${c.minLr}`);
  assert.ok(Math.abs(parseTrainArgs(['--preset', 'smoke', '--batch-size', '64']).config.lr - 0.025) < 1e-15);
  assert.is(parseTrainArgs(['--preset', 'smoke', '--lr', '0.01']).config.lr, 0.01);
  assert.is(parseTrainArgs(['--preset', 'fast', '--batch-size', '16']).config.lr, 0.05, 'other presets keep --lr');
});

test('npm run train says which preset it chose, why, what it costs and how to ask for the other; an explicit one is obeyed', async () => {
  const data = writeTinyFashionMnist(path.join(root, 'fm'), 16);
  const common = ['--dataset', 'fashion-mnist', '--data-dir', data, '--batch-size', '8', '--max-steps', '1', '--eval-every', '0'];
  const auto = startCli('train/cli_train.ts', [...common, '--out-dir', path.join(root, 'auto')]);
  const r = await auto.exited;
  const text = auto.output();
  assert.is(r.code, 0, text);
  const cpu = /^adapter: .*, software\]/m.test(text);
  const lines = text.slice(text.search(/^adapter:/m)).split('\n').filter((l) => !/^Warning|^\s+at |^$/.test(l));
  if (cpu) {
    assert.match(lines[1]!, /^preset fast: this adapter is a CPU \(.*\); the seed preset .* is sized for a GPU .*For the seed tutorial's preset anyway: --preset seed$/);
    assert.match(text, /^model ShuffleNetV1 0\.5x g=3 cifar stem, 32x32,.* 15 epochs/m);
  } else {
    assert.match(lines[1]!, /^preset seed \(the tutorial\): this adapter is a GPU .*--preset fast$/);
    assert.match(text, /^model ShuffleNetV1 2\.0x g=3 imagenet stem, 224x224,.* 250 epochs/m);
  }
  assert.match(lines[2]!, /^estimated .+ per epoch \(7500 steps of 8 on fashion-mnist, \d+ ms each, timed at batch 8\), .+ for the whole run \(1 step, --max-steps; evaluation not included\)$/);
  assert.match(lines[3]!, /^tuning: /);
  assert.match(lines[4]!, /^reductions \(batch norm, pointwise weight gradients\): (cpu|gpu) shape /);
  assert.match(lines[5]!, /Starting Training/);

  // the other preset, asked for: obeyed, and no choice announced
  const other = cpu ? ['--preset', 'seed', '--model-size', '0.5x', '--image-size', '32', '--stem', 'cifar'] : ['--preset', 'fast'];
  const ex = startCli('train/cli_train.ts', [...common, ...other, '--out-dir', path.join(root, 'explicit')]);
  const re = await ex.exited;
  assert.is(re.code, 0, ex.output());
  assert.not.match(ex.output(), /^preset |^estimated /m);
  assert.match(ex.output(), cpu ? /^model ShuffleNetV1 0\.5x .* 250 epochs .*lr 0\.05 -> 0\.0005, 4 warm-up epochs/m : /^model ShuffleNetV1 0\.5x g=3 cifar stem, 32x32,.* 15 epochs/m);
});

test.run();
