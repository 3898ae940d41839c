// ONNX export (model/onnx_export.ts) checked by ONNX Runtime itself (onnxruntime-node, a devDependency
// that only tests import). The exported graph runs on the same inputs as the engine's eval-mode model
// and must agree within 1e-4 rel-L2 (float32 on both sides; observed ~1e-7), folded and unfolded, at
// two batch sizes through one session (the dynamic batch), at image sizes where the 'same' pools see
// both even sizes (asymmetric pads) and odd ones. This catches any op the graph gets wrong: shuffle
// order, pool padding or counting, fold arithmetic, concat order, group counts, a missing ReLU.
// Also: the PyTorch twin's logits, the metadata, the graph's structure, the wire format against
// hand-encoded bytes, state-dict errors, and the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, noGrad } from '../../engine/index.ts';
import { upload, download } from '../util/gpu.ts';
import { expectClose, expectFailure } from '../util/check.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { BN_EPS, ONNX_IR_VERSION, ONNX_OPSET, exportOnnx, type OnnxExportOptions } from '../../model/onnx_export.ts';
import { ProtoWriter } from '../../model/onnx_proto.ts';
import { writeSafetensorsFile } from '../../train/checkpoint_io.ts';
import { configMetadata } from '../../model/checkpoint.ts';
import type { ModelConfig } from '../../model/architecture.ts';
import type { HostTensor } from '../../model/module.ts';
import { CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD } from '../../train/data/cifar10.ts';
import { randomBn, readCheckpointTensors } from './fixture.ts';
import { readOnnx } from './onnx_read.ts';
import { startCli } from '../train/spawn_cli.ts';

const BOUND = 1e-4;
const CIFAR = { mean: CIFAR10_MEAN, std: CIFAR10_STD };

async function runOnnx(session: ort.InferenceSession, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const out = await session.run({ input: new ort.Tensor('float32', x, shape) });
  return out.logits!.data as Float32Array;
}

async function engineLogits(m: ShuffleNetV1, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const t = upload(x, shape);
  try { return await download(noGrad(() => m.eval().forward(t))); } finally { t.dispose(); }
}

const fixtureModel = async (file: string) => {
  const f = await readCheckpointTensors(file);
  const m = new ShuffleNetV1(f.config);
  m.loadStateDict(f.params);
  return { m, f };
};

interface Case { name: string; make: () => Promise<ShuffleNetV1>; px: number; fixed: boolean }
const cases: Case[] = [
  // 40: stem 20 -> max pool 10 -> units 5, 3, 2: pools at 20 and 10 (even, pads 0/1) and 5, 3 (odd, 1/1)
  { name: '0.5x g=3 imagenet stem (fixture), H, W dynamic', make: async () => (await fixtureModel('tests/fixtures/shufflenet_0.5x_g3.safetensors')).m, px: 40, fixed: false },
  // 36, stride-1 stem: unit pools at 36, 18 (even) and 9 (odd)
  { name: '1.0x g=8 cifar stem (random weights and BN statistics), H, W dynamic', px: 36, fixed: false,
    make: async () => { const m = new ShuffleNetV1({ size: '1.0x', group: 8, classes: 10, stem: 'cifar', imageSize: 32, seed: 5 }); randomBn(m, 6); return m; } },
  { name: '0.5x g=8 imagenet stem (fixture), fixed 40x40 with explicit pads', make: async () => (await fixtureModel('tests/fixtures/shufflenet_0.5x_g8.safetensors')).m, px: 40, fixed: true },
];

for (const c of cases) {
  test(`ONNX Runtime == engine, ${c.name}, batch 2 and 3, folded and unfolded`, async () => {
    const m = await c.make();
    const state = await m.readStateDict();
    const rng = new Rng(11);
    const batches = [2, 3].map((N) => ({ shape: [N, 3, c.px, c.px], x: Float32Array.from(rng.normals(N * 3 * c.px * c.px)) }));
    const want = await Promise.all(batches.map((b) => engineLogits(m, b.x, b.shape)));
    for (const fold of [true, false]) {
      const session = await ort.InferenceSession.create(exportOnnx(m.config, state, { fold, imageSize: c.fixed ? c.px : null }));
      for (const [i, b] of batches.entries()) expectClose(await runOnnx(session, b.x, b.shape), want[i]!, BOUND, `${fold ? 'folded' : 'unfolded'} N=${b.shape[0]}`);
      if (c.fixed) { // the fixed size is part of the graph: another size is refused
        let message = '';
        try { await runOnnx(session, new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32]); } catch (e) { message = (e as Error).message; }
        assert.match(message, /dimension|shape/i, 'a 32x32 input to a 40x40 export');
      }
      await session.release();
    }
    if (c.name.startsWith('1.0x')) { // the BN epsilon the export writes is the model's
      assert.is(m.stemBn.eps, BN_EPS);
      assert.ok(m.units.every((u) => [u.bn1, u.bn2, u.bn3].every((bn) => bn.eps === BN_EPS)), 'every BN eps is BN_EPS');
    }
    m.dispose();
  });
}

test('--normalize: pixels in [0, 1] give the engine\'s logits of the normalised input', async () => {
  const { m } = await fixtureModel('tests/fixtures/shufflenet_0.5x_g3.safetensors');
  const N = 2, px = 32, plane = px * px;
  const u = Float32Array.from(new Rng(3).uniforms(N * 3 * plane, 0, 1));
  const x = Float32Array.from(u, (v, i) => { const ch = Math.floor(i / plane) % 3; return (v - CIFAR.mean[ch]!) / CIFAR.std[ch]!; });
  const session = await ort.InferenceSession.create(exportOnnx(m.config, await m.readStateDict(), { normalize: true, normalization: CIFAR }));
  expectClose(await runOnnx(session, u, [N, 3, px, px]), await engineLogits(m, x, [N, 3, px, px]), BOUND, 'normalised in the graph');
  await session.release();
  m.dispose();
});

test('ONNX Runtime reproduces the PyTorch twin\'s eval logits (fixtures, 64x64, batch 4)', async () => {
  for (const g of ['g3', 'g8']) {
    const f = await readCheckpointTensors(`tests/fixtures/shufflenet_0.5x_${g}.safetensors`);
    const x = f.get('input');
    for (const fold of [true, false]) {
      const session = await ort.InferenceSession.create(exportOnnx(f.config, f.params, { fold }));
      expectClose(await runOnnx(session, Float32Array.from(x.data), x.shape), f.get('eval.logits').data, 1e-5, `${g} ${fold ? 'folded' : 'unfolded'} vs torch`);
      await session.release();
    }
  }
});

test('metadata: opset, IR version, input and output names and shapes, class names', async () => {
  const f = await readCheckpointTensors('tests/fixtures/shufflenet_0.5x_g3.safetensors');
  for (const fixed of [null, 64]) {
    const bytes = exportOnnx(f.config, f.params, { classNames: CIFAR10_CLASSES, normalization: CIFAR, imageSize: fixed, metadata: { dataset: 'cifar10' } });
    const r = readOnnx(bytes);
    assert.is(r.irVersion, ONNX_IR_VERSION);
    assert.equal(r.opsets, [{ domain: '', version: ONNX_OPSET }]);
    assert.is(ONNX_OPSET, 17);
    const hw = fixed ? [fixed, fixed] : ['H', 'W'];
    assert.equal(r.inputs, [{ name: 'input', elemType: 1, dims: ['N', 3, ...hw] }]);
    assert.equal(r.outputs, [{ name: 'logits', elemType: 1, dims: ['N', 10] }]);
    assert.equal(JSON.parse(r.metadata.class_names!), [...CIFAR10_CLASSES]);
    assert.equal(JSON.parse(r.metadata.mean!), CIFAR.mean);
    assert.is(r.metadata.dataset, 'cifar10');
    assert.is(r.metadata.batch_norm, 'folded');
    assert.match(r.metadata.input_normalization!, /not in the graph/);
    // ONNX Runtime reads the same names and shapes
    const session = await ort.InferenceSession.create(bytes);
    assert.equal(session.inputNames, ['input']);
    assert.equal(session.outputNames, ['logits']);
    const meta = session.inputMetadata[0]!;
    assert.ok(meta.isTensor && meta.type === 'float32');
    if (meta.isTensor) assert.equal([...meta.shape], ['N', 3, ...hw]);
    await session.release();
  }
});

test('graph structure: BN nodes, shuffles, groups and pool padding as the model has them', async () => {
  const f = await readCheckpointTensors('tests/fixtures/shufflenet_0.5x_g3.safetensors');
  const count = (r: ReturnType<typeof readOnnx>, op: string) => r.nodes.filter((n) => n.op === op).length;
  const folded = readOnnx(exportOnnx(f.config, f.params, { fold: true, imageSize: 40 }));
  const kept = readOnnx(exportOnnx(f.config, f.params, { fold: false }));
  assert.is(count(folded, 'BatchNormalization'), 0);
  assert.is(count(kept, 'BatchNormalization'), 1 + 16 * 3);
  for (const r of [folded, kept]) {
    assert.is(count(r, 'Conv'), 1 + 16 * 3);
    assert.is(count(r, 'Transpose'), 16, 'one shuffle per unit (g=3)');
    for (const t of r.nodes.filter((n) => n.op === 'Transpose')) assert.equal(t.attrs.get('perm')!.ints, [0, 2, 1, 3]);
    const node = (name: string) => r.nodes.find((n) => n.name === name)!;
    assert.equal(r.initializers.find((t) => t.name === 'features.5.channel_shuffle.split_shape')!.dims, [4]);
    assert.is(node('features.0.branch_main_1.0').attrs.get('group')!.i, 1, 'the first unit\'s 1x1 conv is ungrouped');
    assert.is(node('features.1.branch_main_1.0').attrs.get('group')!.i, 3);
    assert.is(node('features.1.branch_main_2.0').attrs.get('group')!.i, 30, 'depthwise: group = channels');
    assert.equal(node('features.4.concat').inputs[0], 'features.4.shortcut_pool', 'pooled shortcut first');
    assert.is(node('features.4.shortcut_pool').attrs.get('count_include_pad')!.i, 0);
  }
  // fixed 40: the stem's max pool sees 20 (even: pad bottom/right only); the last stride-2 unit sees 5 (odd: 1 each side)
  const pads = (name: string) => folded.nodes.find((n) => n.name === name)!.attrs.get('pads')!.ints;
  assert.equal(pads('first_conv.max_pool'), [0, 0, 1, 1]);
  assert.equal(pads('features.12.shortcut_pool'), [1, 1, 1, 1]);
  assert.is(kept.nodes.find((n) => n.name === 'first_conv.max_pool')!.attrs.get('auto_pad')!.s, 'SAME_UPPER');
  const eps = kept.nodes.find((n) => n.op === 'BatchNormalization')!.attrs.get('epsilon')!.f!;
  assert.ok(Math.abs(eps - BN_EPS) < 1e-10, `epsilon ${eps}`);
});

test('wire format: varints (incl. negative int64), fixed32 floats, strings, nested messages', () => {
  const bytes = (w: ProtoWriter) => [...w.finish()];
  assert.equal(bytes(new ProtoWriter().int(1, 300)), [0x08, 0xac, 0x02]);
  assert.equal(bytes(new ProtoWriter().int(8, -1)), [0x40, ...new Array(9).fill(0xff), 0x01]);
  assert.equal(bytes(new ProtoWriter().float(2, 1)), [0x15, 0x00, 0x00, 0x80, 0x3f]);
  assert.equal(bytes(new ProtoWriter().string(20, 'hi')), [0xa2, 0x01, 0x02, 0x68, 0x69]);
  assert.equal(bytes(new ProtoWriter().message(7, new ProtoWriter().int(1, 2))), [0x3a, 0x02, 0x08, 0x02]);
  expectFailure(() => new ProtoWriter().int(1, 0.5), /not an integer/, 'a fractional int');
});

test('a state dict that does not match the model is refused, naming every problem', async () => {
  const f = await readCheckpointTensors('tests/fixtures/shufflenet_0.5x_g3.safetensors');
  const state = new Map<string, HostTensor>(f.params);
  state.delete('features.3.branch_main_2.1.running_var');
  state.set('classifier.bias', { shape: [11], data: new Float32Array(11) });
  state.set('features.99.weight', { shape: [1], data: new Float32Array(1) });
  const e = /missing tensor 'features\.3\.branch_main_2\.1\.running_var'[\s\S]*'classifier\.bias': expected \[10\], got \[11\][\s\S]*unexpected tensors \(1\): features\.99\.weight/;
  expectFailure(() => exportOnnx(f.config, state, { fold: false }), e, 'unfolded');
  expectFailure(() => exportOnnx(f.config, state), e, 'folded');
  expectFailure(() => exportOnnx(f.config, f.params, { classNames: ['a', 'b'] }), /2 class names for a model with 10 classes/, 'class names');
  expectFailure(() => exportOnnx(f.config, f.params, { normalize: true }), /normalize needs the dataset's normalization/, 'normalize without stats');
  expectFailure(() => exportOnnx(f.config, f.params, { imageSize: 16 }), /at least 32x32/, 'image size');
});

/** A checkpoint file of the fixture's weights, with the classifier cut to `classes` rows. */
async function writeCheckpoint(file: string, classes: number): Promise<void> {
  const f = await readCheckpointTensors('tests/fixtures/shufflenet_0.5x_g3.safetensors');
  const config: ModelConfig = { ...f.config, classes };
  const tensors = Object.fromEntries([...f.params].map(([k, t]) => {
    const rows = k.startsWith('classifier.') ? classes : t.shape[0]!;
    const per = t.data.length / t.shape[0]!;
    return [k, { dtype: 'F32' as const, shape: [rows, ...t.shape.slice(1)], data: Float32Array.from(t.data).subarray(0, rows * per) }];
  }));
  await writeSafetensorsFile(file, tensors, configMetadata(config));
}

test('CLI: npm run export:onnx writes a model ONNX Runtime runs; class-count mismatch asks for --class-names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-export-'));
  try {
    await writeCheckpoint(join(dir, 'ten.safetensors'), 10);
    const ok = startCli('scripts/export_onnx.ts', ['--checkpoint', join(dir, 'ten.safetensors'), '--out', join(dir, 'm.onnx'), '--no-fold', '--normalize']);
    assert.is((await ok.exited).code, 0, ok.output());
    assert.match(ok.output(), /opset 17/);
    assert.equal(readdirSync(dir).sort(), ['m.onnx', 'ten.safetensors'], 'no temp file left');
    const bytes = readFileSync(join(dir, 'm.onnx'));
    const r = readOnnx(bytes);
    assert.equal(JSON.parse(r.metadata.class_names!), [...CIFAR10_CLASSES]);
    assert.is(r.metadata.batch_norm, 'BatchNormalization');
    assert.match(r.metadata.input_normalization!, /in the graph/);
    const session = await ort.InferenceSession.create(bytes);
    const y = await runOnnx(session, new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]);
    assert.ok(y.length === 20 && y.every(Number.isFinite));
    await session.release();

    await writeCheckpoint(join(dir, 'five.safetensors'), 5);
    const bad = startCli('scripts/export_onnx.ts', ['--checkpoint', join(dir, 'five.safetensors')]);
    assert.is((await bad.exited).code, 2, bad.output());
    assert.match(bad.output(), /the model has 5 classes but cifar10 has 10 classes; give --class-names FILE/);
    writeFileSync(join(dir, 'names.txt'), 'a\nb\nc\nd\ne\n');
    const named = startCli('scripts/export_onnx.ts', ['--checkpoint', join(dir, 'five.safetensors'), '--class-names', join(dir, 'names.txt')]);
    assert.is((await named.exited).code, 0, named.output());
    assert.equal(JSON.parse(readOnnx(readFileSync(join(dir, 'five.onnx'))).metadata.class_names!), ['a', 'b', 'c', 'd', 'e'], 'default --out beside the checkpoint');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
