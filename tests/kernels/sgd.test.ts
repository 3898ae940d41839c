import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, capture } from '../../engine/index.ts';
import { sgdCheck, sgdResetFlag, lossScaleUpdate } from '../../kernels/sgd.ts';
import { Sgd, type SgdOptions, type SgdParam } from '../../train/sgd.ts';
import { upload, download, quantize } from '../util/gpu.ts';
import { expectClose, TOL } from '../util/check.ts';
import { sgdRef, lossScaleRef, overflowRef, type Hyper, type LossScaleState } from '../ref/sgd.ts';

// odd sizes, more parameters than one dispatch's group, decay on and off (as for BN gamma/beta)
const SHAPES = [[1], [7], [3, 5, 7], [37], [24, 3, 1, 1], [5], [2, 2], [129], [10, 1920]];
const DECAY = [true, false, true, true, true, false, false, true, true];
const hyperOf = (h: Hyper) => [h.lr, h.momentum, h.weightDecay, h.invScale];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function setup(seed: number, o: SgdOptions = {}) {
  const rng = new Rng(seed);
  const w0 = SHAPES.map((s) => quantize(rng.uniforms(numel(s)), 'f32'));
  const params: SgdParam[] = SHAPES.map((s, i) => ({ tensor: upload(w0[i], s, 'f32', { requiresGrad: true }), decay: DECAY[i] }));
  return { rng, w: w0.map((x) => Float64Array.from(x)), v: w0.map((x) => new Float64Array(x.length)), params, opt: new Sgd(params, o) };
}

async function expectState(params: SgdParam[], opt: Sgd, w: Float64Array[], v: Float64Array[], what: string) {
  const momenta = [...opt.momenta().values()];
  for (let i = 0; i < params.length; i++) {
    expectClose(await params[i].tensor.read(), w[i], TOL.f32, `${what} w${i}`);
    expectClose(await momenta[i].read(), v[i], TOL.f32, `${what} v${i}`);
  }
}

const dispose = (params: SgdParam[], opt: Sgd) => { opt.zeroGrad(); opt.dispose(); for (const p of params) p.tensor.dispose(); };
/** Dynamic scaling held at S = 2 (invScale 0.5): the overflow check and skip, with a constant scale. */
const DYNAMIC_AT_2: SgdOptions = { lossScale: 2, dynamic: { minScale: 2, maxScale: 2 } };

test('three steps match the float64 reference: loss-scale unscaling, weight decay only where flagged, lr per step', async () => {
  const scale = 1024;
  const { rng, w, v, params, opt } = setup(1, { lossScale: scale });
  for (const [step, lr] of [0.1, 0.05, 0.02].entries()) {
    const h: Hyper = { lr, momentum: 0.9, weightDecay: 4e-5 * 100, invScale: 1 / scale };
    opt.setHyper(h.lr, h.momentum, h.weightDecay);
    assert.equal(Array.from(await opt.hyper.read()), Array.from(Float32Array.from(hyperOf(h))), 'setHyper writes [lr, momentum, wd, 1/S]');
    for (const [i, p] of params.entries()) {
      const g = quantize(rng.normals(p.tensor.size, scale), 'f32');
      p.tensor.grad = upload(g, p.tensor.shape);
      sgdRef(w[i], v[i], g, h, p.decay);
    }
    opt.step();
    opt.zeroGrad();
    assert.ok(params.every((p) => p.tensor.grad === null), 'zeroGrad disposes the gradients');
    await expectState(params, opt, w, v, `step ${step}`);
  }
  dispose(params, opt);
});

test('a parameter without a gradient is skipped', async () => {
  const { rng, w, v, params, opt } = setup(2);
  const h: Hyper = { lr: 0.1, momentum: 0.9, weightDecay: 0.01, invScale: 1 };
  const hyper = upload(hyperOf(h), [4]);
  for (const [i, p] of params.entries()) {
    if (i % 3 === 1) continue;
    const g = quantize(rng.normals(p.tensor.size), 'f32');
    p.tensor.grad = upload(g, p.tensor.shape);
    sgdRef(w[i], v[i], g, h, p.decay);
  }
  opt.step(hyper);
  await expectState(params, opt, w, v, 'partial');
  hyper.dispose();
  dispose(params, opt);
});

for (const [name, bad] of [['Inf', Infinity], ['-Inf', -Infinity], ['NaN', NaN]] as const) {
  test(`dynamic scaling: an ${name} gradient sets the overflow flag and leaves every w and v unchanged; a clean step clears it`, async () => {
    const { rng, w, v, params, opt } = setup(3, DYNAMIC_AT_2);
    const h: Hyper = { lr: 0.1, momentum: 0.9, weightDecay: 0.01, invScale: 0.5 };
    const hyper = upload(hyperOf(h), [4]);
    const overflow = opt.overflow!;
    // one clean step first, so v is non-zero and "unchanged" means something
    for (const [i, p] of params.entries()) {
      const g = quantize(rng.normals(p.tensor.size), 'f32');
      p.tensor.grad = upload(g, p.tensor.shape);
      sgdRef(w[i], v[i], g, h, p.decay);
    }
    opt.step(hyper);
    opt.zeroGrad();
    assert.equal(Array.from(await overflow.read()), [0], 'clean step: no overflow');
    for (const p of params) {
      const g = rng.normals(p.tensor.size);
      if (p.tensor.size === 129) g[77] = bad;
      p.tensor.grad = upload(g, p.tensor.shape);
    }
    opt.step(hyper);
    assert.equal(Array.from(await overflow.read()), [1], `${name}: overflow flag`);
    await expectState(params, opt, w, v, `after ${name}`);
    opt.zeroGrad();
    for (const [i, p] of params.entries()) {
      const g = quantize(rng.normals(p.tensor.size), 'f32');
      p.tensor.grad = upload(g, p.tensor.shape);
      sgdRef(w[i], v[i], g, h, p.decay);
    }
    opt.step(hyper);
    assert.equal(Array.from(await overflow.read()), [0], 'the next clean step resets the flag');
    await expectState(params, opt, w, v, 'after recovery');
    hyper.dispose();
    dispose(params, opt);
  });
}

test('sgdCheck: overflow produced by unscaling counts; garbage in a binding\'s padding does not', async () => {
  const flag = Tensor.zeros([1]);
  const hyper = upload([0.1, 0.9, 0, 1e10], [4]);
  const g = upload([1e30, 2, 3], [3]);
  sgdResetFlag(flag);
  sgdCheck([g], hyper, flag);
  assert.equal(Array.from(await flag.read()), [1], '1e30 * 1e10 overflows f32');
  assert.ok(overflowRef([[1e30, 2, 3]], 1e10), 'ref agrees');
  // a buffer that held Inf past element 5, reused for a 5-element gradient (same pool size class)
  const dirty = upload([0, 0, 0, 0, 0, 0, Infinity, NaN], [8]);
  dirty.dispose();
  const clean = upload([1, 2, 3, 4, 5], [5]);
  const small = upload([0, 0, 0, 0, 0, 0, 0, 1], [8, 1, 1, 1]).reshapeView([8]);
  hyper.write([0.1, 0.9, 0, 1]);
  sgdResetFlag(flag);
  sgdCheck([clean, small], hyper, flag);
  assert.equal(Array.from(await flag.read()), [0], 'padding lanes are masked');
  for (const t of [flag, hyper, g, clean, small]) t.dispose();
});

test('GPU loss scale: invScale = 1 / scale[0] replaces hyper[3]', async () => {
  const { rng, w, v, params, opt } = setup(4, { lossScale: 256, dynamic: true });
  const h: Hyper = { lr: 0.05, momentum: 0.9, weightDecay: 0.001, invScale: 1 / 256 };
  const hyper = upload([h.lr, h.momentum, h.weightDecay, 12345], [4]); // hyper[3] must be ignored
  assert.equal(Array.from(await opt.scale.read()), [256]);
  for (const [i, p] of params.entries()) {
    const g = quantize(rng.normals(p.tensor.size, 256), 'f32');
    p.tensor.grad = upload(g, p.tensor.shape);
    sgdRef(w[i], v[i], g, h, p.decay);
  }
  opt.step(hyper);
  assert.equal(Array.from(await opt.overflow!.read()), [0]);
  await expectState(params, opt, w, v, 'gpu scale');
  hyper.dispose();
  dispose(params, opt);
});

test('a captured step replays with new hyper values, loss scale and gradients (nothing per-step is baked in)', async () => {
  const { rng, w, v, params, opt } = setup(5, { lossScale: 1, dynamic: true });
  for (const p of params) p.tensor.grad = Tensor.zeros(p.tensor.shape);
  const run = (h: Hyper) => {
    opt.setHyper(h.lr, h.momentum, h.weightDecay);
    opt.scale.write([1 / h.invScale]); // the dynamic scale only moves after 2000 clean steps
    for (const [i, p] of params.entries()) {
      const g = quantize(rng.normals(p.tensor.size), 'f32');
      p.tensor.grad!.write(g);
      sgdRef(w[i], v[i], g, h, p.decay);
    }
  };
  run({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, invScale: 1 });
  const { step } = capture(() => opt.step());
  for (const lr of [0.07, 0.03]) {
    run({ lr, momentum: 0.8, weightDecay: 0.02, invScale: 0.5 });
    step.run();
  }
  await expectState(params, opt, w, v, 'replayed');
  step.dispose();
  dispose(params, opt);
});

test('lossScaleUpdate follows the reference: halve on overflow, double after `interval` clean steps, clamped', async () => {
  const cfg = { interval: 3, factor: 2, minScale: 1, maxScale: 64 };
  const scale = Tensor.from([8], [1]), good = Tensor.zeros([1]), flag = Tensor.zeros([1]);
  let s: LossScaleState = { scale: 8, good: 0 };
  const flags = [0, 0, 0, 1, 0, 1, 1, 1, 1, 1, ...Array(24).fill(0)];
  for (const [i, f] of flags.entries()) {
    flag.write([f]);
    lossScaleUpdate(scale, good, flag, cfg);
    s = lossScaleRef(s, f === 1, cfg);
    assert.equal([...(await scale.read()), ...(await good.read())], [s.scale, s.good], `after update ${i}`);
  }
  assert.is(s.scale, 64, 'the sequence reaches the maximum');
  for (const t of [scale, good, flag]) t.dispose();
});

test('dynamic loss scale defaults: 2^16, doubling after 2000 clean steps', async () => {
  const opt = new Sgd([], { dynamic: true });
  assert.equal(Array.from(await opt.scale.read()), [65536]);
  assert.equal(await opt.lossScaleState(), { dynamic: true, scale: 65536, goodSteps: 0 });
  opt.dispose();
});

test('bad arguments name the optimizer and the shapes', () => {
  const w16 = Tensor.zeros([3], 'f16'), w = Tensor.zeros([3]), hyper = Tensor.zeros([3]);
  assert.throws(() => new Sgd([{ tensor: w16, decay: true }]), /sgd: parameter 0 must be f32, got f16 \[3\]/);
  const opt = new Sgd([{ tensor: w, decay: true }]);
  assert.throws(() => opt.step(hyper), /sgd: hyper must be f32 \[4\].*got f32 \[3\]/);
  w.grad = Tensor.zeros([4]);
  assert.throws(() => opt.step(), /sgd: gradient of parameter 0 must be f32 \[3\], got f32 \[4\]/);
  opt.zeroGrad(); opt.dispose();
  for (const t of [w16, w, hyper]) t.dispose();
});

test.run();
