// `npm run eval` and `npm run predict` end to end, spawned on a tiny Fashion-MNIST-shaped set with one
// freshly saved 0.5x model (32x32): eval prints the seed's result line and appends it to eval_log.txt
// in the working directory; predict writes the test-image grid (16 by default, --count/--offset) to
// prediction.png there, and prints the top-5 classes of image files given on the command line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import '../util/gpu.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { saveCheckpoint } from '../../train/checkpoint_io.ts';
import { FASHION_MNIST_CLASSES } from '../../train/data/fashion_mnist.ts';
import { predictionGridLayout } from '../../train/pictures/prediction_grid.ts';
import { startCli } from './spawn_cli.ts';
import { writeTinyFashionMnist } from './tiny_fashion_mnist.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-predict-cli-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const data = writeTinyFashionMnist(path.join(root, 'fm'), 16);
const ckpt = path.join(root, 'tiny.safetensors');
const common = ['--checkpoint', ckpt, '--dataset', 'fashion-mnist', '--data-dir', data];
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Runs `script` with `args` in `cwd` (a new directory under root) to the end. */
async function run(script: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  fs.mkdirSync(cwd, { recursive: true });
  const cli = startCli(script, args, { cwd });
  const { code } = await cli.exited;
  return { code, out: cli.output() };
}

function readPng(file: string): PNG {
  const bytes = fs.readFileSync(file);
  assert.equal([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} starts with the PNG signature`);
  return PNG.sync.read(bytes);
}

test.before(async () => {
  const model = new ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 1 });
  await saveCheckpoint(ckpt, model);
  model.dispose();
});

test('eval: the seed\'s result line, appended to eval_log.txt in the working directory (catches a changed format or an overwritten log)', async () => {
  const cwd = path.join(root, 'eval');
  fs.mkdirSync(cwd);
  fs.writeFileSync(path.join(cwd, 'eval_log.txt'), 'an earlier line\n');
  const r = await run('train/cli_eval.ts', [...common, '--batch-size', '8'], cwd);
  assert.is(r.code, 0, r.out);
  const m = new RegExp(`^result:\\{'Loss': ([\\d.]+), 'Top_1_Acc': ([\\d.]+), 'Top_5_Acc': ([\\d.]+)\\}, ckpt:'${re(ckpt)}', time: \\d+h \\d+m \\d+s$`, 'm').exec(r.out);
  assert.ok(m, r.out);
  const [loss, top1, top5] = [m![1], m![2], m![3]].map(Number) as [number, number, number];
  assert.ok(loss > 0 && Number.isFinite(loss), `loss ${loss}`);
  assert.ok(Number.isInteger(top1 * 16) && Number.isInteger(top5 * 16), `accuracies over all 16 images (2 batches of 8): ${top1}, ${top5}`);
  assert.ok(top1 <= top5 && top5 <= 1, `top-1 ${top1} <= top-5 ${top5}`);
  assert.match(r.out, 'appended to eval_log.txt');
  assert.is(fs.readFileSync(path.join(cwd, 'eval_log.txt'), 'utf8'), `an earlier line\n${m![0]}\n`);
});

test('predict: 16 test images in prediction.png in the working directory (catches a missing or mis-sized figure)', async () => {
  const cwd = path.join(root, 'grid');
  const r = await run('train/cli_predict.ts', common, cwd);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /\b\d+\/16 right; wrote prediction\.png \(blue: right, red: wrong\)/);
  const img = readPng(path.join(cwd, 'prediction.png'));
  const layout = predictionGridLayout({ n: 16, c: 1, h: 28, w: 28 }, {}, true); // 2 rows of 8, with a title
  assert.equal([img.width, img.height], [layout.width, layout.height]);
  assert.ok(img.width >= 8 * 28 * layout.scale && img.height >= 2 * 28 * layout.scale, `${img.width}x${img.height}`);
});

test('predict --count 5 --offset 3: test images 3..7, in that order (catches --offset or --count ignored)', async () => {
  const cwd = path.join(root, 'offset');
  const out = path.join(cwd, 'five.png');
  const r = await run('train/cli_predict.ts', [...common, '--count', '5', '--offset', '3', '--out', out], cwd);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`\\b\\d/5 right; wrote ${re(out)} `));
  const img = readPng(out);
  const layout = predictionGridLayout({ n: 5, c: 1, h: 28, w: 28 }, {}, true);
  assert.equal([img.width, img.height], [layout.width, layout.height]);
  // each cell's top-left pixel is that test image's first pixel (the set's images differ there)
  const idx = fs.readFileSync(path.join(data, 't10k-images-idx3-ubyte'));
  const cell = (i: number) => img.data[4 * (layout.cells[i]!.imageY * img.width + layout.cells[i]!.x)]!;
  assert.equal([0, 1, 2, 3, 4].map(cell), [3, 4, 5, 6, 7].map((n) => idx[16 + n * 784]!));
  assert.not.ok(fs.existsSync(path.join(cwd, 'prediction.png')), 'only --out written');
});

test('predict IMAGE.png ...: the top-5 classes of each with probabilities, and their grid with --out (catches a wrong listing)', async () => {
  const cwd = path.join(root, 'files');
  fs.mkdirSync(cwd);
  const files = [0, 1].map((k) => {
    const png = new PNG({ width: 32, height: 32 });
    for (let p = 0; p < 32 * 32; p++) png.data.set([(p >> (4 + k)) % 2 ? 220 : 20, 90, 40 * k, 255], 4 * p);
    const f = path.join(cwd, `picture${k}.png`);
    fs.writeFileSync(f, PNG.sync.write(png));
    return f;
  });
  const grid = path.join(cwd, 'pictures.png');
  const r = await run('train/cli_predict.ts', [...common, '--out', grid, ...files], cwd);
  assert.is(r.code, 0, r.out);
  for (const f of files) {
    const at = r.out.indexOf(`${f} (32x32):\n`);
    assert.ok(at >= 0, `${f} listed:\n${r.out}`);
    const lines = r.out.slice(at).split('\n').slice(1, 6);
    const top = lines.map((l) => /^ {2}(.{12}) +(\d+\.\d\d)%$/.exec(l));
    assert.ok(top.every(Boolean), lines.join('\n'));
    const names = top.map((t) => t![1]!.trim()), pct = top.map((t) => Number(t![2]));
    assert.ok(names.every((n) => FASHION_MNIST_CLASSES.includes(n)) && new Set(names).size === 5, names.join(', '));
    assert.equal([...pct].sort((a, b) => b - a), pct, 'most probable first');
    assert.ok(pct.reduce((a, b) => a + b, 0) <= 100.01 && pct[0]! >= 10, pct.join(', '));
  }
  assert.match(r.out, `wrote ${grid}`);
  const img = readPng(grid);
  const layout = predictionGridLayout({ n: 2, c: 3, h: 32, w: 32 }, {}, false);
  assert.equal([img.width, img.height], [layout.width, layout.height]);
});

test.run();
