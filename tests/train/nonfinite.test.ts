// Checkpoints that are not what they should be: Inf/NaN weights are refused on load, naming the first
// (tensor, index), unless allowNonfinite; eval and predict then never report a non-finite result with
// exit status 0. A file that is not a safetensors checkpoint says what it looks like; a directory says
// so; a damaged PNG names what is wrong with it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import '../util/gpu.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { CheckpointError } from '../../model/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors, type StTensor } from '../../model/safetensors.ts';
import { loadCheckpoint, readCheckpoint, saveCheckpoint } from '../../train/checkpoint_io.ts';
import { readImageFile } from '../../train/pictures/image_file.ts';
import { startCli } from './spawn_cli.ts';
import { writeTinyFashionMnist } from './tiny_fashion_mnist.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nonfinite-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const good = path.join(root, 'good.safetensors'), bad = path.join(root, 'bad.safetensors');
const BAD_TENSOR = 'classifier.weight';

test('a checkpoint with a NaN is refused, naming the tensor and index; allowNonfinite loads it', async () => {
  const model = new ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 1 });
  await saveCheckpoint(good, model);
  model.dispose();
  const file = decodeSafetensors(fs.readFileSync(good));
  const t = file.tensors[BAD_TENSOR] as Extract<StTensor, { dtype: 'F32' }>;
  assert.ok(t && t.shape.length === 2, `${BAD_TENSOR} is a matrix`);
  const cols = t.shape[1]!;
  t.data[cols + 7] = NaN; // row 1, column 7
  t.data[3 * cols] = Infinity;
  fs.writeFileSync(bad, encodeSafetensors(file.tensors, file.metadata));
  const err = await readCheckpoint(bad).then(() => null, (e: Error) => e);
  assert.instance(err, CheckpointError);
  assert.match(err!.message, new RegExp(`^${bad}: tensor '${BAD_TENSOR}' holds NaN at index ${cols + 7} \\[1, 7\\] \\(2 non-finite values in 1 tensor\\): the run that saved it had diverged\\. .*--allow-nonfinite`));
  await loadCheckpoint(bad).then(() => assert.unreachable('loaded'), (e: Error) => assert.match(e.message, /holds NaN at index/));
  const ck = await readCheckpoint(bad, { allowNonfinite: true });
  assert.ok(Number.isNaN(ck.state.get(BAD_TENSOR)!.data[cols + 7]!));
  await readCheckpoint(good); // a finite one loads
});

test('files that are not checkpoints say what they are', async () => {
  const png = path.join(root, 'picture.png');
  fs.writeFileSync(png, PNG.sync.write(new PNG({ width: 4, height: 4 })));
  const msg = (f: string) => readCheckpoint(f).then(() => '', (e: Error) => e.message);
  assert.is(await msg(png), `${png}: looks like a PNG image, not a safetensors checkpoint`);
  const txt = path.join(root, 'notes.txt');
  fs.writeFileSync(txt, 'this is not a checkpoint\n');
  assert.is(await msg(txt), `${txt}: looks like a text file, not a safetensors checkpoint`);
  const zip = path.join(root, 'model.pt');
  fs.writeFileSync(zip, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.match(await msg(zip), /looks like a zip archive \(PyTorch's \.pt\/\.pth files are zip archives\)/);
  const dir = path.join(root, 'run');
  fs.mkdirSync(dir);
  assert.is(await msg(dir), `${dir}: cannot read checkpoint: it is a directory, not a file; it holds no .safetensors file`);
  for (const n of ['shufflenetv1-2_4.safetensors', 'shufflenetv1-10_4.safetensors', 'shufflenetv1-9_4.safetensors', 'shufflenetv1-1_4.safetensors']) fs.copyFileSync(good, path.join(dir, n));
  assert.is(await msg(dir), `${dir}: cannot read checkpoint: it is a directory, not a file; pass one of its 4 .safetensors files, e.g. ` +
    ['2_4', '9_4', '10_4'].map((s) => path.join(dir, `shufflenetv1-${s}.safetensors`)).join(', '));
});

test('a damaged PNG names what is wrong (truncated, bad CRC) instead of the decoder\'s internals', () => {
  const img = new PNG({ width: 8, height: 8 });
  img.data.fill(100);
  const bytes = PNG.sync.write(img);
  const write = (name: string, b: Uint8Array) => { const f = path.join(root, name); fs.writeFileSync(f, b); return f; };
  const cut = write('cut.png', bytes.subarray(0, bytes.length - 20));
  assert.throws(() => readImageFile(cut), (e: Error) => e.message === `readImageFile: ${cut}: corrupt PNG: truncated: chunk 'IDAT' at byte 33 needs ${bytes.length - 33 - 12} bytes, the file ends after ${bytes.length - 20 - 33}`);
  const flipped = Buffer.from(bytes);
  flipped[45] = flipped[45]! ^ 0xff;
  const crc = write('crc.png', flipped);
  assert.throws(() => readImageFile(crc), (e: Error) => e.message === `readImageFile: ${crc}: corrupt PNG: chunk 'IDAT' at byte 33 is damaged (its CRC does not match)`);
  assert.equal(readImageFile(write('ok.png', bytes)).h, 8);
});

test('eval and predict: refused without --allow-nonfinite (exit 1, naming the tensor); with it a NaN result still exits 1', async () => {
  const data = writeTinyFashionMnist(path.join(root, 'fm'), 16);
  const log = path.join(root, 'eval_log.txt');
  const common = ['--checkpoint', bad, '--dataset', 'fashion-mnist', '--data-dir', data];
  const refused = startCli('train/cli_eval.ts', [...common, '--log', log]);
  assert.is((await refused.exited).code, 1, refused.output());
  assert.match(refused.output(), new RegExp(`error: ${bad}: tensor '${BAD_TENSOR}' holds NaN at index`));
  const inspected = startCli('train/cli_eval.ts', [...common, '--log', log, '--allow-nonfinite', '--limit', '8']);
  assert.is((await inspected.exited).code, 1, inspected.output());
  assert.match(inspected.output(), /warning: .* holds 2 non-finite value\(s\) in 1 tensor\(s\), the first in 'classifier\.weight' at index/);
  assert.match(inspected.output(), /result:\{'Loss': nan,/);
  assert.match(inspected.output(), /the loss: not finite, so this is not a result \(the weights give Inf\/NaN outputs\); exit status 1/);
  assert.not.ok(fs.existsSync(log), 'nothing appended to the eval log');
  const picture = path.join(root, 'one.png');
  const img = new PNG({ width: 32, height: 32 });
  img.data.fill(90);
  fs.writeFileSync(picture, PNG.sync.write(img));
  const predicted = startCli('train/cli_predict.ts', [...common, '--allow-nonfinite', picture]);
  assert.is((await predicted.exited).code, 1, predicted.output());
  assert.match(predicted.output(), /no prediction: \d+ of 10 logits are not finite/);
  assert.match(predicted.output(), /the logits of 1 of 1 image\(s\): not finite/);
});

test.run();
