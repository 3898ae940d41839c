// Checkpoints: round trip (parameters, BN statistics, momenta, training record), metadata, atomic
// writes, and strict loading: each way a file can disagree with the model is an error naming the tensor.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, Tensor } from '../../engine/index.ts';
import '../util/gpu.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { MOMENTUM_PREFIX } from '../../model/checkpoint.ts';
import { encodeSafetensors, type StTensor } from '../../model/safetensors.ts';
import { saveCheckpoint, loadCheckpoint, readCheckpoint, readSafetensorsFile, writeSafetensorsFile } from '../../train/checkpoint_io.ts';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
const cfg = { size: '0.5x', group: 3, classes: 10, imageSize: 32 } as const;

async function rejects(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<string> {
  try { await p; } catch (e) {
    const msg = (e as Error).message;
    for (const part of parts) assert.ok(typeof part === 'string' ? msg.includes(part) : part.test(msg), `expected ${part} in: ${msg}`);
    return msg;
  }
  assert.unreachable('expected a rejection');
  return '';
}

/** Give every BN non-trivial statistics so a round trip checks buffers too. */
function perturbBuffers(m: ShuffleNetV1, seed: number): void {
  const rng = new Rng(seed);
  for (const b of m.buffers()) b.tensor.write(rng.uniforms(b.tensor.size, 0.5, 1.5));
}

async function stateOf(m: ShuffleNetV1): Promise<Map<string, Float32Array>> {
  return new Map([...(await m.readStateDict())].map(([k, v]) => [k, v.data]));
}

let saved: Map<string, Float32Array>;
const path = join(dir, 'a.safetensors');

test('save, then load into a differently initialised model: every tensor, momenta and the training record', async () => {
  const a = new ShuffleNetV1({ ...cfg, seed: 1 });
  perturbBuffers(a, 7);
  const params = a.parameters();
  const momenta = new Map(params.slice(0, 3).map((p, i) => [p.name, Tensor.from(new Float32Array(p.tensor.size).fill(i + 0.5), p.tensor.shape).own()]));
  const training = { epoch: 3, step: 1234, lossScale: 1024, rng: new Rng(9).getState(), note: 'x' };
  await saveCheckpoint(path, a, { training, momenta });
  saved = await stateOf(a);

  const b = new ShuffleNetV1({ ...cfg, seed: 2 });
  const before = await stateOf(b);
  assert.ok(before.get('first_conv.0.weight')![0] !== saved.get('first_conv.0.weight')![0], 'seeds differ');
  const { checkpoint } = await loadCheckpoint(path, b);
  const after = await stateOf(b);
  assert.equal([...after.keys()], [...saved.keys()]);
  for (const [k, v] of saved) assert.equal(Array.from(after.get(k)!), Array.from(v), k);
  assert.equal(checkpoint.training, training);
  assert.equal([...checkpoint.momenta.keys()].sort(), params.slice(0, 3).map((p) => p.name).sort());
  assert.equal(Array.from(checkpoint.momenta.get(params[1].name)!.data), new Array(params[1].tensor.size).fill(1.5));
  for (const m of [a, b]) m.dispose();
  for (const t of momenta.values()) t.dispose();
});

test('file layout: PyTorch names, F32, metadata; no temp files; loadCheckpoint builds the model from metadata', async () => {
  const f = await readSafetensorsFile(path);
  assert.equal(f.metadata.model_size, '0.5x');
  assert.equal(f.metadata.group, '3');
  assert.equal(f.metadata.n_class, '10');
  assert.equal(f.metadata.image_size, '32');
  assert.equal(f.metadata.stem, 'imagenet');
  assert.equal(f.metadata.format, 'shufflenet-webgpu-v1');
  assert.equal(JSON.parse(f.metadata.training).step, 1234);
  assert.ok(f.tensors['features.15.branch_main_2.3.running_var'].dtype === 'F32');
  assert.ok(`${MOMENTUM_PREFIX}first_conv.0.weight` in f.tensors);
  assert.equal(readdirSync(dir), ['a.safetensors']);
  const { model } = await loadCheckpoint(path);
  assert.equal(model.config, { ...cfg, stem: 'imagenet' });
  const got = await stateOf(model);
  for (const [k, v] of saved) assert.equal(Array.from(got.get(k)!), Array.from(v), k);
  model.dispose();
});

/** Write a variant of the saved file with `edit` applied to its tensors / metadata. */
async function variant(name: string, edit: (t: Record<string, StTensor>, m: Record<string, string>) => void): Promise<string> {
  const f = await readSafetensorsFile(path);
  edit(f.tensors, f.metadata);
  const p = join(dir, name);
  await writeSafetensorsFile(p, f.tensors, f.metadata);
  return p;
}

test('strict loading: missing, unexpected and mis-shaped tensors are named; nothing is written on error', async () => {
  const m = new ShuffleNetV1({ ...cfg, seed: 5 });
  const before = await stateOf(m);
  const missing = await variant('missing.safetensors', (t) => { delete t['features.7.branch_main_2.1.running_mean']; });
  await rejects(loadCheckpoint(missing, m), 'missing tensors (1): features.7.branch_main_2.1.running_mean');
  const extra = await variant('extra.safetensors', (t) => { t['features.99.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) }; });
  await rejects(loadCheckpoint(extra, m), 'unexpected tensors (1): features.99.weight');
  const shaped = await variant('shaped.safetensors', (t) => { t['classifier.bias'] = { dtype: 'F32', shape: [11], data: new Float32Array(11) }; });
  await rejects(loadCheckpoint(shaped, m), 'classifier.bias: expected [10], got [11]');
  const after = await stateOf(m);
  for (const [k, v] of before) assert.equal(Array.from(after.get(k)!), Array.from(v), `${k} untouched`);
  // non-strict tolerates missing and unexpected names, never a wrong shape
  await loadCheckpoint(missing, m, { strict: false });
  await loadCheckpoint(extra, m, { strict: false });
  await rejects(loadCheckpoint(shaped, m, { strict: false }), 'classifier.bias: expected [10], got [11]');
  // PyTorch's num_batches_tracked is accepted and ignored
  const torchy = await variant('torchy.safetensors', (t) => { t['first_conv.1.num_batches_tracked'] = { dtype: 'I64', shape: [], data: new BigInt64Array(1) }; });
  await loadCheckpoint(torchy, m);
  const badMomentum = await variant('momentum.safetensors', (t) => { t[`${MOMENTUM_PREFIX}nope.weight`] = { dtype: 'F32', shape: [1], data: new Float32Array(1) }; });
  await rejects(loadCheckpoint(badMomentum, m), 'optimizer.momentum.nope.weight: no such parameter');
  const intData = await variant('int.safetensors', (t) => { t['classifier.bias'] = { dtype: 'I32', shape: [10], data: new Int32Array(10) }; });
  await rejects(loadCheckpoint(intData, m), "tensor 'classifier.bias' is I32");
  m.dispose();
});

test('metadata must describe the model: group, stem, missing keys', async () => {
  const m = new ShuffleNetV1({ ...cfg, seed: 5 });
  const g8 = await variant('g8.safetensors', (_t, md) => { md.group = '8'; });
  await rejects(loadCheckpoint(g8, m), 'checkpoint is for group=8 but the model has group=3');
  const cifar = await variant('cifar.safetensors', (_t, md) => { md.stem = 'cifar'; });
  await rejects(loadCheckpoint(cifar, m), 'checkpoint is for stem=cifar but the model has stem=imagenet');
  const bare = await variant('bare.safetensors', (_t, md) => { delete md.model_size; });
  await rejects(readCheckpoint(bare), "metadata has no 'model_size'");
  const odd = await variant('odd.safetensors', (_t, md) => { md.group = '5'; });
  await rejects(readCheckpoint(odd), 'metadata describe no valid model', 'unsupported size "0.5x" with group 5');
  const badJson = await variant('json.safetensors', (_t, md) => { md.training = '{oops'; });
  await rejects(readCheckpoint(badJson), "metadata 'training' is not valid JSON");
  m.dispose();
});

test('corrupt files: truncated, lying offsets, oversized header, missing file', async () => {
  const bytes = readFileSync(path);
  const cut = join(dir, 'cut.safetensors');
  writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
  await rejects(readCheckpoint(cut), /truncated file: tensor '.*' needs data bytes/);
  // a header whose offsets point past the data it has
  const lie = encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array(2) } }, { model_size: '0.5x', group: '3', n_class: '10' });
  const text = new TextDecoder().decode(lie.subarray(8, 8 + Number(new DataView(lie.buffer).getBigUint64(0, true))));
  const lied = new Uint8Array(lie);
  lied.set(new TextEncoder().encode(text.replace('"data_offsets":[0,8]', '"data_offsets":[0,9]')), 8);
  const liePath = join(dir, 'lie.safetensors');
  writeFileSync(liePath, lied);
  await rejects(readCheckpoint(liePath), "tensor 'w'", '[0, 9)');
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 10n ** 12n, true);
  const hugePath = join(dir, 'huge.safetensors');
  writeFileSync(hugePath, huge);
  await rejects(readCheckpoint(hugePath), 'header length 1000000000000 bytes exceeds the limit');
  await rejects(readCheckpoint(join(dir, 'absent.safetensors')), 'checkpoint not found');
});

test('saving over an existing checkpoint replaces it atomically (no temp file left)', async () => {
  const m = new ShuffleNetV1({ ...cfg, seed: 11 });
  const p = join(dir, 'over.safetensors');
  await saveCheckpoint(p, m);
  m.classifier.bias.write(new Float32Array(10).fill(3));
  await saveCheckpoint(p, m, { training: { epoch: 1 } });
  const ck = await readCheckpoint(p);
  assert.equal(Array.from(ck.state.get('classifier.bias')!.data), new Array(10).fill(3));
  assert.equal(ck.training, { epoch: 1 });
  assert.ok(readdirSync(dir).every((f) => !f.includes('.tmp')), readdirSync(dir).join(' '));
  const bad = new Map([['classifier.bias', Tensor.zeros([3]).own()]]);
  await rejects(saveCheckpoint(p, m, { momenta: bad }), "momentum 'classifier.bias' is f32[3], parameter is f32[10]");
  bad.get('classifier.bias')!.dispose();
  m.dispose();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
