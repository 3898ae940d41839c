// Command-line parsing of the train/eval/predict programs, checkpoint file naming and rotation.
// Pure host code, plus the three CLIs run as subprocesses for --help and flag errors (no GPU work).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FlagError, parseFlags, formatHelp } from '../../train/flags.ts';
import { PRESETS, TRAIN_FLAGS, parseTrainArgs, trainHelp } from '../../train/config.ts';
import { checkpointName, latestCheckpoint, listCheckpoints, rotateCheckpoints } from '../../train/checkpoint_files.ts';
import { duration, hms, pyFloat } from '../../train/format.ts';

const fails = (argv: string[], pattern: RegExp) => {
  let msg = '';
  try { parseTrainArgs(argv); } catch (e) { assert.instance(e, FlagError); msg = (e as Error).message; }
  assert.ok(msg, `${argv.join(' ')} should be rejected`);
  assert.match(msg, pattern);
};

test('defaults reproduce the seed', () => {
  const { config: c, help } = parseTrainArgs([]);
  assert.is(help, false);
  assert.equal(
    [c.dataset, c.modelSize, c.group, c.imageSize, c.batchSize, c.epochs, c.warmupEpochs, c.lr, c.minLr, c.momentum, c.weightDecay, c.labelSmoothing, c.lossScale, c.stem, c.precision, c.flip, c.dynamicLossScale, c.keepCheckpoints],
    ['cifar10', '2.0x', 3, 224, 128, 250, 4, 0.05, 0.0005, 0.9, 4e-5, 0.1, 1024, 'imagenet', 'auto', true, false, 5],
  );
  assert.is(c.resume, null);
  assert.is(c.maxSteps, 0);
});

test('every flag the issue lists parses, in both --flag value and --flag=value forms', () => {
  const { config: c } = parseTrainArgs(['--dataset', 'fashion-mnist', '--data-dir=/tmp/d', '--epochs', '3', '--max-steps=7', '--batch-size', '32',
    '--model-size', '1.0x', '--group', '8', '--image-size', '64', '--stem', 'cifar', '--precision', 'fp32', '--lr', '0.1', '--seed', '42',
    '--out-dir', '/tmp/o', '--resume', 'x.safetensors', '--download-url', 'http://127.0.0.1:1/c.tgz', '--no-flip', '--dynamic-loss-scale']);
  assert.equal([c.dataset, c.dataDir, c.epochs, c.maxSteps, c.batchSize, c.modelSize, c.group, c.imageSize, c.stem, c.precision, c.lr, c.seed, c.outDir, c.resume, c.downloadUrl, c.flip, c.dynamicLossScale],
    ['fashion-mnist', '/tmp/d', 3, 7, 32, '1.0x', 8, 64, 'cifar', 'fp32', 0.1, 42, '/tmp/o', 'x.safetensors', 'http://127.0.0.1:1/c.tgz', false, true]);
});

test('--resume with and without a file', () => {
  assert.is(parseTrainArgs(['--resume']).config.resume, true);
  assert.is(parseTrainArgs(['--resume', '--epochs', '2']).config.resume, true);
  assert.is(parseTrainArgs(['--resume', 'a.safetensors']).config.resume, 'a.safetensors');
  assert.is(parseTrainArgs(['--resume=b.safetensors']).config.resume, 'b.safetensors');
});

test('presets set their values; explicit flags win wherever they stand', () => {
  const fast = parseTrainArgs(['--preset', 'fast']).config;
  assert.equal([fast.modelSize, fast.group, fast.imageSize, fast.stem], ['0.5x', 3, 32, 'cifar']);
  const a = parseTrainArgs(['--image-size', '64', '--preset', 'fast']).config;
  const b = parseTrainArgs(['--preset', 'fast', '--image-size', '64']).config;
  assert.is(a.imageSize, 64);
  assert.is(b.imageSize, 64);
  assert.is(a.modelSize, '0.5x');
  const smoke = parseTrainArgs(['--preset', 'smoke']).config;
  assert.ok(smoke.maxSteps > 0 && smoke.maxSteps <= 20, 'smoke runs a few steps');
  assert.is(parseTrainArgs(['--preset', 'seed']).config.modelSize, '2.0x');
  for (const p of Object.values(PRESETS)) for (const k of Object.keys(p)) assert.ok(k in TRAIN_FLAGS, `preset key ${k} is a flag`);
});

test('unknown flags and bad values are rejected naming the flag', () => {
  fails(['--bogus'], /unknown flag --bogus/);
  fails(['--epoch', '3'], /unknown flag --epoch; did you mean --epochs/);
  fails(['--batch-size', 'abc'], /--batch-size: expected an integer >= 1, got 'abc'/);
  fails(['--batch-size', '0'], /--batch-size: expected an integer >= 1, got '0'/);
  fails(['--batch-size', '1.5'], /--batch-size/);
  fails(['--epochs'], /--epochs: missing value/);
  fails(['--epochs', '--lr', '0.1'], /--epochs: missing value/);
  fails(['--lr', '0'], /--lr: expected a number > 0, got '0'/);
  fails(['--lr', 'fast'], /--lr: expected a number/);
  fails(['--momentum', '1.5'], /--momentum: expected a number >= 0 and <= 1/);
  fails(['--model-size', '3.0x'], /--model-size: expected one of 0\.5x\|1\.0x\|1\.5x\|2\.0x, got '3\.0x'/);
  fails(['--group', '5'], /--group: expected one of 1\|2\|3\|4\|8, got '5'/);
  fails(['--precision', 'bf16'], /--precision: expected one of auto\|fp16\|fp32/);
  fails(['--dataset', 'mnist'], /--dataset: expected one of cifar10\|fashion-mnist/);
  fails(['--preset', 'turbo'], /--preset/);
  fails(['--image-size', '16'], /--image-size: expected an integer in \[32, 1024\], got '16'/);
  fails(['--epochs', '3', '--epochs', '4'], /--epochs: given more than once/);
  fails(['stray'], /unexpected argument 'stray'/);
  fails(['--epochs', '2', '--warmup-epochs', '4'], /--warmup-epochs: 4 is more than --epochs 2/);
  fails(['--flip=maybe'], /--flip: expected true or false/);
});

test('--help lists every flag with its default and the presets', () => {
  assert.is(parseTrainArgs(['--help']).help, true);
  assert.is(parseTrainArgs(['-h', '--epochs', '2']).help, true);
  const h = trainHelp();
  for (const [name, spec] of Object.entries(TRAIN_FLAGS)) {
    assert.ok(h.includes(`--${name}`), `help mentions --${name}`);
    if (spec.default !== null) assert.ok(h.includes(`(default: ${spec.default})`), `help gives the default of --${name}`);
  }
  assert.match(h, /--preset auto\|seed\|fast\|smoke/);
  assert.match(h, /auto +\(the default\) seed on a GPU adapter, fast on a CPU adapter/);
  assert.match(h, /fast +--model-size 0\.5x/);
});

test('generic parser: positional arguments, -- and bool forms', () => {
  const T = { out: { type: 'string', default: 'a.png', help: 'x' }, v: { type: 'bool', default: false, help: 'y' } } as const;
  const p = parseFlags(T, ['img1.png', '--v', 'img2.png', '--', '--not-a-flag'], { positional: true });
  assert.equal(p.positional, ['img1.png', 'img2.png', '--not-a-flag']);
  assert.is(p.values.v, true);
  assert.is(p.values.out, 'a.png');
  assert.ok(formatHelp('u', T).includes('--v, --no-v'));
});

test('checkpoint names and rotation keep the newest 5 by (epoch, step)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-rot-'));
  try {
    assert.is(checkpointName(250, 391), 'shufflenetv1-250_391.safetensors');
    assert.is(latestCheckpoint(dir), null);
    for (const [e, s] of [[1, 4], [2, 4], [10, 4], [3, 4], [4, 4], [5, 4], [5, 2], [6, 1]]) fs.writeFileSync(path.join(dir, checkpointName(e, s)), 'x');
    fs.writeFileSync(path.join(dir, 'other.safetensors'), 'keep me');
    const dropped = rotateCheckpoints(dir, 5).map((f) => path.basename(f));
    assert.equal(dropped, ['shufflenetv1-1_4.safetensors', 'shufflenetv1-2_4.safetensors', 'shufflenetv1-3_4.safetensors']);
    assert.equal(listCheckpoints(dir).map((c) => [c.epoch, c.step]), [[4, 4], [5, 2], [5, 4], [6, 1], [10, 4]]);
    assert.ok(fs.existsSync(path.join(dir, 'other.safetensors')), 'files that are not checkpoints stay');
    assert.is(path.basename(latestCheckpoint(dir)!), 'shufflenetv1-10_4.safetensors');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the seed's result line formatting", () => {
  assert.is(pyFloat(0.8152), '0.8152');
  assert.is(pyFloat(1), '1.0');
  assert.is(pyFloat(1.0217913215673422), '1.0217913215673422');
  assert.is(pyFloat(1e-5), '1e-05');
  assert.is(pyFloat(1.5e-7), '1.5e-07');
  assert.is(pyFloat(0.0001), '0.0001');
  assert.is(pyFloat(1e16), '1e+16');
  assert.is(pyFloat(0), '0.0');
  assert.is(parseTrainArgs(['--epochs', '2']).config.warmupEpochs, 2);
  assert.is(hms(21.7), '0h 0m 21s');
  assert.is(hms(3 * 3600 + 4 * 60 + 27), '3h 4m 27s');
  assert.is(duration(12.5), '12.5s');
  assert.is(duration(250), '4m 10s');
  assert.is(duration(2 * 3600 + 5 * 60 + 3), '2h 5m 3s');
  assert.is(duration(1245 * 3600), '51.9 days');
  assert.is(duration(Infinity), '?');
});

// the programs themselves: --help exits 0 and lists flags; a bad flag exits 2 naming it
const run = (script: string, args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', timeout: 30_000 });

test('npm run train/eval/predict/bench:step: --help and flag errors', () => {
  const h = run('train/cli_train.ts', ['--help']);
  assert.is(h.status, 0, h.stderr);
  assert.match(h.stdout, /--max-steps N/);
  const badBatch = run('train/cli_train.ts', ['--batch-size', 'x']);
  assert.is(badBatch.status, 2);
  assert.match(badBatch.stderr, /--batch-size: expected an integer >= 1, got 'x'/);
  const e = run('train/cli_eval.ts', ['--help']);
  assert.is(e.status, 0, e.stderr);
  assert.match(e.stdout, /--checkpoint FILE/);
  assert.match(e.stdout, /eval_log\.txt/);
  const m = run('train/cli_predict.ts', ['--out', 'x.png']);
  assert.is(m.status, 2);
  assert.match(m.stderr, /--checkpoint: missing/);
  const b = run('scripts/bench_step.ts', ['--help']);
  assert.is(b.status, 0, b.stderr);
  assert.match(b.stdout, /^Usage: npm run bench:step/);
  assert.match(b.stdout, /--steps N +timed steps per mode .*\(default: 200\)/);
  const bs = run('scripts/bench_step.ts', ['--step', '5']);
  assert.is(bs.status, 2);
  assert.match(bs.stderr, /^npm run bench:step: unknown flag --step; did you mean --steps\?/);
  const bad = run('train/cli_train.ts', ['--checkpoint-every', '10s']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--checkpoint-every: expected N \(steps\), Nm \(minutes, e\.g\. 30m\) or 0 \(never\), got '10s'/);
});

test.run();
