// The model: state-dict names, order and shapes (against the PyTorch twin's fixtures), weight-decay flags,
// initialisation, forward shapes and dtypes, train/eval, the fused channel shuffle against the separate
// op (forward and gradients), input checks, and that a training step leaks no GPU memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, Tensor, backward, counters, noGrad, poolStats, flush, type DType } from '../../engine/index.ts';
import { upload } from '../util/gpu.ts';
import { withBindingLimit } from '../util/windows.ts';
import { expectClose, relL2 } from '../util/check.ts';
import { sum } from '../../kernels/reduce.ts';
import { mul } from '../../kernels/elementwise.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { readSafetensorsFile } from '../../train/checkpoint_io.ts';
import { fans } from '../../model/init.ts';

const small = { size: '0.5x', group: 3, classes: 10, imageSize: 32 } as const;
const image = (N: number, H: number, seed: number, dtype: DType = 'f32', W = H) =>
  upload(new Rng(seed).normals(N * 3 * H * W), [N, 3, H, W], dtype);

for (const g of [3, 8] as const) {
  test(`state dict: the twin's names and shapes (0.5x g=${g}), PyTorch order`, async () => {
    const f = await readSafetensorsFile(`tests/fixtures/shufflenet_0.5x_g${g}.safetensors`);
    const want = new Map(Object.entries(f.tensors).filter(([k]) => k.startsWith('param.')).map(([k, t]) => [k.slice(6), t.shape.join()]));
    const m = new ShuffleNetV1({ ...small, group: g });
    const got = new Map([...m.stateDict()].map(([k, t]) => [k, t.shape.join()]));
    assert.equal([...got.keys()].sort(), [...want.keys()].sort());
    for (const [k, s] of want) assert.is(got.get(k), s, k);
    const names = [...got.keys()];
    assert.equal(names.slice(0, 7), ['first_conv.0.weight', 'first_conv.1.weight', 'first_conv.1.bias', 'first_conv.1.running_mean',
      'first_conv.1.running_var', 'features.0.branch_main_1.0.weight', 'features.0.branch_main_1.1.weight']);
    assert.equal(names.slice(-6), ['features.15.branch_main_2.3.weight', 'features.15.branch_main_2.3.bias', 'features.15.branch_main_2.3.running_mean',
      'features.15.branch_main_2.3.running_var', 'classifier.weight', 'classifier.bias']);
    assert.equal(m.parameters().map((p) => p.name), names.filter((n) => !n.includes('running_')));
    assert.equal(m.buffers().map((p) => p.name), names.filter((n) => n.includes('running_')));
    m.dispose();
  });
}

test('parameters: BN gamma/beta skip weight decay, everything else (classifier bias too) decays; grads required', () => {
  const m = new ShuffleNetV1(small);
  for (const p of m.parameters()) {
    const isBn = /(first_conv\.1|branch_main_1\.1|branch_main_2\.[13])\.(weight|bias)$/.test(p.name);
    assert.is(p.decay, !isBn, p.name);
    assert.ok(p.tensor.requiresGrad && p.tensor.dtype === 'f32', p.name);
  }
  assert.ok(m.buffers().every((b) => !b.tensor.requiresGrad));
  m.dispose();
});

test('init: xavier-uniform convs (fans from the weight shape), BN 1/0 and 0/1, dense U(±1/sqrt(in)); seeded', async () => {
  const a = new ShuffleNetV1({ ...small, seed: 3 }), b = new ShuffleNetV1({ ...small, seed: 3 }), c = new ShuffleNetV1({ ...small, seed: 4 });
  const sa = await a.readStateDict(), sb = await b.readStateDict(), sc = await c.readStateDict();
  for (const [k, { shape, data }] of sa) {
    assert.equal(Array.from(data), Array.from(sb.get(k)!.data), `${k}: same seed, same values`);
    const max = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    if (k.endsWith('running_mean') || (k.endsWith('.bias') && !k.startsWith('classifier'))) assert.is(max, 0, k);
    else if (k.endsWith('running_var') || (shape.length === 1 && k.endsWith('.weight'))) assert.ok(data.every((v) => v === 1), k);
    else {
      const xavier = () => { const { fanIn, fanOut } = fans(shape); return Math.sqrt(6 / (fanIn + fanOut)); };
      const bound = k.startsWith('classifier') ? 1 / Math.sqrt(480) : xavier();
      assert.ok(max <= bound && max > 0.9 * bound, `${k}: max |w| ${max} vs bound ${bound}`);
      if (data.length > 1000) {
        const varU = data.reduce((s, v) => s + v * v, 0) / data.length;
        assert.ok(Math.abs(varU / (bound * bound / 3) - 1) < 0.1, `${k}: variance ${varU} vs U(±${bound})`);
      }
      assert.ok(data[0] !== sc.get(k)!.data[0], `${k}: another seed, other values`);
    }
  }
  // the depthwise conv's fans: fan_in 9 (per group), fan_out 9·C
  assert.equal(fans(a.units[0].dw.weight.shape), { fanIn: 9, fanOut: 9 * 30 });
  for (const m of [a, b, c]) m.dispose();
});

test('forward: shapes and dtypes for both stems, odd sizes, f16 input; train mode updates running stats, eval does not', async () => {
  const m = new ShuffleNetV1(small);
  for (const [H, W, dtype] of [[32, 32, 'f32'], [37, 45, 'f32'], [33, 32, 'f16']] as const) {
    const x = image(2, H, H + W, dtype, W);
    const y = noGrad(() => m.eval().forward(x));
    assert.equal(y.shape, [2, 10]);
    assert.is(y.dtype, dtype);
    assert.ok((await y.read()).every(Number.isFinite));
    x.dispose(); y.dispose();
  }
  const rm = m.units[5].bn3.runningMean;
  const before = await rm.read();
  const x = image(2, 32, 1);
  noGrad(() => m.eval().forward(x)).dispose();
  assert.equal(Array.from(await rm.read()), Array.from(before), 'eval keeps running stats');
  noGrad(() => m.train().forward(x)).dispose();
  assert.not.equal(Array.from(await rm.read()), Array.from(before), 'train updates running stats');
  x.dispose(); m.dispose();
  const c = new ShuffleNetV1({ ...small, stem: 'cifar' });
  const xc = image(2, 32, 2);
  const yc = noGrad(() => c.forward(xc));
  assert.equal(yc.shape, [2, 10]);
  yc.dispose(); xc.dispose(); c.dispose();
});

test('forward rejects bad inputs with the shapes', () => {
  const m = new ShuffleNetV1(small);
  const x1 = Tensor.zeros([2, 3, 31, 40]), x2 = Tensor.zeros([2, 4, 32, 32]), x3 = Tensor.zeros([3, 32, 32]);
  assert.throws(() => m.forward(x1), /ShuffleNetV1: input \[2, 3, 31, 40\] must be at least 32x32.*got 31x40/);
  assert.throws(() => m.forward(x2), /ShuffleNetV1: x must be \[N, 3, H, W\], got \[2, 4, 32, 32\]/);
  assert.throws(() => m.forward(x3), /x must be \[N, 3, H, W\], got \[3, 32, 32\]/);
  assert.throws(() => new ShuffleNetV1({ ...small, group: 5 as 3 }), /valid: size .* with group 1 \| 2 \| 3 \| 4 \| 8/);
  for (const t of [x1, x2, x3]) t.dispose();
  m.dispose();
});

// The shuffle fused into the depthwise conv's input indexing must equal the separate channelShuffle op,
// forward and backward, for every group count (g = 1 has no shuffle at all).
for (const g of [2, 3, 4, 8] as const) {
  test(`fused shuffle == separate channelShuffle (0.5x g=${g}): train logits and every gradient`, async () => {
    const cfg = { ...small, group: g, seed: 21 };
    const results: Float32Array[][] = [];
    let names: string[] = [];
    for (const fuseShuffle of [true, false]) {
      const m = new ShuffleNetV1({ ...cfg, fuseShuffle });
      const x = image(2, 32, 5);
      const y = m.forward(x);
      const r = upload(new Rng(6).normals(20), [2, 10]);
      const logits = await y.read();
      backward(sum(mul(y, r)));
      names = ['logits', ...m.parameters().map((p) => p.name)];
      results.push([logits, ...(await Promise.all(m.parameters().map((p) => p.tensor.grad!.read())))]);
      x.dispose(); y.dispose(); r.dispose(); m.dispose();
    }
    results[0].forEach((v, i) => {
      // grad of a BN beta feeding conv -> train-mode BN is 0 in exact arithmetic: compare its noise absolutely
      if (names[i].endsWith('branch_main_2.1.bias')) assert.ok(relL2(v, results[1][i]).worst < 1e-5, names[i]);
      else expectClose(v, results[1][i], 1e-5, `g=${g} ${names[i]}`);
    });
  });
}

// The whole model with the storage binding limit lowered to 192 KiB: at 64x64 and batch 8 the stem's
// output (96 KiB an image) is bound two images a window and stage 2 (and its backward, 30 KiB an image)
// six, through every op the model has (the stem's weight-gradient parts, 162 KiB, are bound whole).
// Catches an op that binds a tensor over the limit whole (launch throws) or whose windows read or write
// another window's images. With eval-mode batch norm nothing in forward or in any dx sums over the
// batch, so the logits must be equal bits and the weight gradients (sums over the batch, added per
// window) within 1e-6. In training mode the batch statistics are summed per window too: their last-bit
// differences flip a few ReLU and max-pool decisions at near-ties, which moves some gradients by ~1e-3
// (as f16 rounding does), so there only forward is compared: logits and running statistics, 1e-5.
async function windowedRun(training: boolean, limit: number | null) {
  const m = new ShuffleNetV1({ ...small, imageSize: 64, seed: 23 }).train(training);
  const x = image(8, 64, 7), r = upload(new Rng(8).normals(80), [8, 10]);
  const d0 = counters.dispatches;
  const run = async () => {
    const y = m.forward(x);
    const logits = await y.read();
    if (!training) backward(sum(mul(y, r)));
    y.dispose();
    return logits;
  };
  const logits = limit === null ? await run() : await withBindingLimit(limit, run);
  const dispatches = counters.dispatches - d0;
  const named = training ? [...m.stateDict()].filter(([k]) => k.includes('running_')) : m.parameters().map((p) => [p.name, p.tensor.grad!] as const);
  const values = [logits, ...(await Promise.all(named.map(([, t]) => t.read())))];
  x.dispose(); r.dispose(); m.dispose();
  return { names: ['logits', ...named.map(([k]) => k)], values, dispatches };
}

for (const training of [false, true]) {
  test(`the whole model in binding windows (${training ? 'training: logits and running statistics' : 'eval: logits and every gradient'}) equals the unwindowed run`, async () => {
    const whole = await windowedRun(training, null), windowed = await windowedRun(training, 192 * 1024);
    assert.ok(windowed.dispatches > whole.dispatches, `windowed run dispatched ${windowed.dispatches} kernels, the whole run ${whole.dispatches}`);
    whole.values.forEach((v, i) => {
      const name = whole.names[i]!, got = windowed.values[i]!;
      const e = relL2(got, v);
      if (!training && i === 0) assert.equal(Array.from(got), Array.from(v), 'eval logits: equal bits');
      // only noise to compare where the exact value is 0: a BN beta feeding conv -> BN (its gradient) and
      // the running mean of a BN after a 1x1 conv of BN-centred input
      else if (name.endsWith('branch_main_2.1.bias') || (name.endsWith('running_mean') && e.scale < 1e-6)) assert.ok(e.worst < 1e-7, `${name}: ${e.worst}`);
      else expectClose(got, v, training ? 1e-5 : 1e-6, `windowed ${name}`);
    });
  });
}

test('a training step and an eval forward leak no GPU memory', async () => {
  const m = new ShuffleNetV1(small);
  const x = image(2, 32, 8);
  const step = () => {
    const y = m.train().forward(x);
    const loss = sum(y);
    backward(loss);
    y.dispose(); loss.dispose();
    m.zeroGrad();
    noGrad(() => m.eval().forward(x)).dispose();
  };
  step();
  flush();
  const live = poolStats().liveBytes;
  step();
  step();
  flush();
  assert.is(poolStats().liveBytes, live);
  x.dispose(); m.dispose();
});

test.run();
