// MindSpore .ckpt files through the programs. `npm run convert` (scripts/convert.ts): .ckpt ->
// .safetensors -> .ckpt keeps every tensor and the momenta, says what it assumed and left behind, and
// bad arguments or files exit 2 or 1 with the reason, writing nothing (host only). `npm run eval`
// takes a .ckpt as it takes a .safetensors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, readMindsporeCkptFile } from '../../train/checkpoint_io.ts';
import { startCli } from '../train/spawn_cli.ts';
import { writeTinyFashionMnist } from '../train/tiny_fashion_mnist.ts';
import { loadForInference } from '../../train/inference.ts';

const NET = 'tests/fixtures/shufflenet_0.5x_g3.ckpt';
const dir = mkdtempSync(join(tmpdir(), 'convert-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ code: number | null; out: string }> {
  return runScript('scripts/convert.ts', ...args);
}

async function runScript(script: string, ...args: string[]): Promise<{ code: number | null; out: string }> {
  const cli = startCli(script, args);
  const { code } = await cli.exited;
  return { code, out: cli.output() };
}

test('both directions: weights and momenta kept, the assumed stem and the MindSpore state left behind named (catches a lossy conversion)', async () => {
  const st = join(dir, 'a.safetensors'), ck = join(dir, 'b.ckpt');
  const a = await run(NET, st, '--stem', 'cifar', '--image-size', '32');
  assert.is(a.code, 0, a.out);
  assert.match(a.out, 'not carried over: learning_rate, momentum, global_step');
  assert.match(a.out, `wrote ${st}: ShuffleNetV1 0.5x g=3, 10 classes, cifar stem, image size 32; 247 state-dict tensors, 149 momentum buffers`);
  const b = await run(st, ck, '--crc');
  assert.is(b.code, 0, b.out);
  assert.match(b.out, 'CRC trailer');
  const [orig, back] = [await readCheckpoint(NET), await readCheckpoint(ck)];
  assert.equal([back.config.stem, back.config.imageSize, back.notes], ['cifar', 32, []], 'the configuration travels inside our .ckpt');
  for (const [k, t] of orig.state) assert.equal(Array.from(back.state.get(k)!.data), Array.from(t.data), k);
  for (const [k, t] of orig.momenta) assert.equal(Array.from(back.momenta.get(k)!.data), Array.from(t.data), `momentum ${k}`);
  assert.is((await readMindsporeCkptFile(ck)).crc, true);
});

test('bad arguments exit 2 and bad files exit 1, naming the problem and writing nothing', async () => {
  const out = join(dir, 'never.safetensors');
  for (const [args, msg] of [
    [[NET], 'expected IN and OUT, got 1 argument(s)'],
    [[NET, join(dir, 'x.pt')], 'x.pt: unknown extension; use .safetensors or .ckpt'],
    [[NET, join(dir, 'x.ckpt')], 'are both .ckpt'],
    [[NET, out, '--crc'], '--crc: only for a .ckpt output'],
  ] as [string[], string][]) {
    const r = await run(...args);
    assert.is(r.code, 2, r.out);
    assert.match(r.out, msg);
  }
  const bad = join(dir, 'cut.ckpt');
  writeFileSync(bad, readFileSync(NET).subarray(0, 5000));
  const r = await run(bad, out);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /cut\.ckpt: Value at byte \d+ \('[\w.]+'\): its length \d+ \(at byte \d+\) runs past the end of the file at byte 5000/);
  assert.not.ok(existsSync(out), 'nothing written');
});

test('npm run eval takes a .ckpt, saying what it assumed; --stem is refused for a .safetensors (catches eval ignoring the extension)', async () => {
  const data = writeTinyFashionMnist(join(dir, 'fm'), 16);
  const log = join(dir, 'eval_log.txt');
  const common = ['--dataset', 'fashion-mnist', '--data-dir', data, '--image-size', '32', '--limit', '8', '--log', log];
  const r = await runScript('train/cli_eval.ts', '--checkpoint', NET, ...common);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, 'records no stem');
  assert.match(r.out, 'model size is 0.5x (g=3, imagenet stem, 32x32)');
  assert.match(r.out, new RegExp(`result:\\{'Loss': [\\d.]+, 'Top_1_Acc': [\\d.]+, 'Top_5_Acc': [\\d.]+\\}, ckpt:'${NET.replace(/\./g, '\\.')}'`));
  const v = { checkpoint: 'tests/fixtures/shufflenet_0.5x_g3.safetensors', dataset: 'cifar10', 'data-dir': null, 'download-url': null, 'image-size': 0, precision: 'fp32', fold: true, 'allow-nonfinite': false, stem: 'cifar' };
  try {
    await loadForInference(v, new Set(['stem']));
    assert.unreachable('--stem with a .safetensors');
  } catch (e) {
    assert.match((e as Error).message, '--stem: only for a MindSpore .ckpt; tests/fixtures/shufflenet_0.5x_g3.safetensors records its stem');
  }
});

test.run();
