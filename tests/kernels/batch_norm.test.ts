import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, noGrad, capture, scope, deviceInfo, describeDevice, type DType } from '../../engine/index.ts';
import { reductionShape, setReductionShape } from '../../kernels/reduction_shape.ts';
import { batchNorm, batchNormStats, batchNormEvalStats, batchNormNormalize, batchNormBackward, type BatchNormOptions } from '../../kernels/batch_norm.ts';
import { batchWindows } from '../../kernels/windows.ts';
import { addRelu, mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, REDUCTION_PATHS, reductionPathName, onReductionPath, withReduction, subgroupVariantTitle, expectSubgroupVariants } from '../util/gpu.ts';
import { expectClose, dot, TOL, TOL_ROUND } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { batchNormRef, batchNormBackwardRef, type BatchNormRefOptions } from '../ref/batch_norm.ts';
import { withBindingLimit, expectWindowedSame } from '../util/windows.ts';

// f16 bounds: y is computed in f32 and rounded to a half once (2^-11 relative: TOL_ROUND; with the
// worst-element gate one element of the 98k in [2, 3, 128, 128] off by over 4e-3·max|y| ~ 0.03 fails);
// dx also carries dy rounded to halves and the cancellation in n·dy' - Σdy' - xhat·Σ(dy'·xhat).
const FWD = TOL_ROUND;
const BWD = { f32: TOL.f32, f16: 1e-2 };

// H·W = 16 and 36 are aligned to quads, 35 and 49 straddle planes, 3 and 1 are tiny planes ([3, 5, 1, 3]
// has an odd element count, for f16's packed pairs); the 128x128 / 105x105 cases split each channel
// over several chunks (Chan merge across workgroups). [2, 2, 1, 1] is the smallest training batch
// (2 values per channel), forward only: there dx is exactly 0 but for eps (xhat = ±1), so its
// relative error measures nothing but cancellation; [3, 2, 1, 1] stands in. The statistics and gradient
// reductions run in every variant on every adapter: both reduction shapes (8-wide CPU-shaped and
// 64-wide GPU-shaped workgroups, reduction_shape.ts), each in its subgroup and plain form where the
// device has subgroups.
const SHAPES: number[][] = [[2, 3, 5, 7], [3, 8, 4, 4], [2, 7, 6, 6], [4, 5, 7, 7], [3, 5, 1, 3], [3, 2, 1, 1]];
const FWD_SHAPES: number[][] = [...SHAPES, [2, 2, 1, 1], [2, 3, 128, 128], [3, 2, 105, 105]];

const PATHS = REDUCTION_PATHS, pathName = reductionPathName, onPath = onReductionPath;

// r: random dy (backward's dL/dy); res: a residual for the fused relu(bn(x) + res)
interface Fixture { x: Float64Array; gamma: Float64Array; beta: Float64Array; rm: Float64Array; rv: Float64Array; r: Float64Array; res: Float64Array }

function fixture(shape: number[], dtype: DType, seed: number, mean = 0.3): Fixture {
  const rng = new Rng(seed);
  const C = shape[1], n = shape.reduce((a, b) => a * b, 1);
  return {
    x: quantize(rng.normals(n, 1.5).map((v) => v + mean), dtype),
    gamma: quantize(rng.uniforms(C, 0.5, 1.5), 'f32'),
    beta: quantize(rng.uniforms(C, -0.3, 0.3), 'f32'),
    rm: quantize(rng.uniforms(C, -0.2, 0.2), 'f32'),
    rv: quantize(rng.uniforms(C, 0.5, 2), 'f32'),
    r: quantize(rng.uniforms(n, -1, 1), dtype),
    res: quantize(rng.normals(n, 0.8), dtype),
  };
}

/** Smallest |pre-ReLU y| over the fixture: ReLU tests need it away from the kink. */
function margin(f: Fixture, shape: number[], o: Mode): number {
  const y = batchNormRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, refOptions(f, { ...o, relu: false })).y;
  return y.reduce((m, v) => Math.min(m, Math.abs(v)), Infinity);
}

function gpuInputs(f: Fixture, shape: number[], dtype: DType, gradX = false) {
  return {
    x: upload(f.x, shape, dtype, { requiresGrad: gradX }),
    gamma: upload(f.gamma, [shape[1]], 'f32', { requiresGrad: gradX }),
    beta: upload(f.beta, [shape[1]], 'f32', { requiresGrad: gradX }),
    rm: upload(f.rm, [shape[1]]),
    rv: upload(f.rv, [shape[1]]),
  };
}

// res: the fused residual tail, relu(bn(x) + res) (or bn(x) + res without relu)
type Mode = BatchNormOptions & { res?: boolean };
const MODES: Mode[] = [
  { training: true }, { training: true, relu: true }, { training: false }, { training: false, relu: true },
  { training: true, momentum: 0.3, eps: 1e-3 },
  { training: true, relu: true, res: true }, { training: false, relu: true, res: true }, { training: true, res: true },
];
const name = (o: Mode) => `${o.training ? 'train' : 'eval'}${o.res ? '+res' : ''}${o.relu ? '+relu' : ''}${o.momentum ? ` m=${o.momentum} eps=${o.eps}` : ''}`;
const refOptions = (f: Fixture, o: Mode): BatchNormRefOptions => ({ ...o, ...(o.res ? { residual: f.res } : {}) });
/** batchNorm with the mode's options, and the residual uploaded when the mode has one. */
const runBatchNorm = (t: ReturnType<typeof gpuInputs>, o: Mode, res?: Tensor) => {
  const { res: _, ...opts } = o;
  return o.res ? batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, opts, res) : batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, opts);
};

for (const p of PATHS) for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of FWD_SHAPES) {
    test(`batchNorm forward ${dtype} [${shape}]${pathName(p)}`, () => onPath(p, async () => {
      const f = fixture(shape, dtype, shape.reduce((a, b) => a * b, 7));
      for (const o of MODES) {
        const t = gpuInputs(f, shape, dtype);
        const res = upload(f.res, shape, dtype);
        const y = await download(runBatchNorm(t, o, res));
        res.dispose();
        const want = batchNormRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, refOptions(f, o));
        expectClose(y, want.y, FWD[dtype], `${name(o)} y`);
        // running statistics are f32 whatever x is; eval leaves them untouched (bit for bit)
        const rm = await download(t.rm), rv = await download(t.rv);
        expectClose(rm, want.runningMean, TOL.f32, `${name(o)} runningMean`);
        expectClose(rv, want.runningVar, TOL.f32, `${name(o)} runningVar`);
        if (!o.training) assert.equal([...rm, ...rv], [...Float32Array.from(f.rm), ...Float32Array.from(f.rv)], 'eval: running stats unchanged');
        t.x.dispose(); t.gamma.dispose(); t.beta.dispose();
      }
    }));
  }

  for (const shape of SHAPES) {
    test(`batchNorm backward ${dtype} [${shape}]${pathName(p)}`, () => onPath(p, async () => {
      for (const o of MODES) {
        const f = fixture(shape, dtype, shape.reduce((a, b) => a * b, 11));
        if (o.relu) assert.ok(margin(f, shape, o) > 1e-4, 'fixture lands on the ReLU kink');
        const ro = refOptions(f, o);
        const want = batchNormBackwardRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, f.r, ro);
        if (dtype === 'f32') { // the reference's own rules, by finite differences (once per shape and mode)
          const L = (x: Float64Array, g = f.gamma, b = f.beta, res = f.res) => dot(f.r, batchNormRef(x, shape, g, b, f.rm, f.rv, { ...ro, ...(o.res ? { residual: res } : {}) }).y);
          gradcheck((x) => L(x), Float64Array.from(f.x), want.dx, `${name(o)} ref dx`);
          gradcheck((g) => L(f.x, g), Float64Array.from(f.gamma), want.dgamma, `${name(o)} ref dgamma`);
          gradcheck((b) => L(f.x, f.gamma, b), Float64Array.from(f.beta), want.dbeta, `${name(o)} ref dbeta`);
          if (o.res) gradcheck((r) => L(f.x, f.gamma, f.beta, r), Float64Array.from(f.res), want.dresidual!, `${name(o)} ref dresidual`);
        }
        const t = gpuInputs(f, shape, dtype, true);
        const res = upload(f.res, shape, dtype, { requiresGrad: true });
        backward(sum(mul(runBatchNorm(t, o, res), upload(f.r, shape, dtype))));
        expectClose(await t.x.grad!.read(), want.dx, BWD[dtype], `${name(o)} dx`);
        expectClose(await t.gamma.grad!.read(), want.dgamma, TOL.f32, `${name(o)} dgamma`);
        expectClose(await t.beta.grad!.read(), want.dbeta, TOL.f32, `${name(o)} dbeta`);
        // dresidual is dy masked (or dy itself): exact up to dy's own rounding to x's dtype
        if (o.res) expectClose(await res.grad!.read(), want.dresidual!, TOL_ROUND[dtype], `${name(o)} dresidual`);
        else assert.is(res.grad, null, 'no residual, no gradient for it');
        for (const v of [...Object.values(t), res]) v.dispose();
      }
    }));
  }
}

for (const p of PATHS) test(`batchNorm backward over several chunks per channel (f32 [2, 3, 128, 128], train + relu)${pathName(p)}`, () => onPath(p, async () => {
  const shape = [2, 3, 128, 128], o = { training: true, relu: true };
  const f = fixture(shape, 'f32', 99);
  const t = gpuInputs(f, shape, 'f32', true);
  backward(sum(mul(batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, o), upload(f.r, shape))));
  const want = batchNormBackwardRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, f.r, o);
  expectClose(await t.x.grad!.read(), want.dx, TOL.f32, 'dx');
  expectClose(await t.gamma.grad!.read(), want.dgamma, TOL.f32, 'dgamma');
  expectClose(await t.beta.grad!.read(), want.dbeta, TOL.f32, 'dbeta');
  for (const v of Object.values(t)) v.dispose();
}));

// The fused tail relu(bn(x) + res) is the unfused addRelu(res, batchNorm(x)) bit for bit in f32, forward
// and backward (the same f32 sum, the same mask, the same masked dy in the same summation order). In
// f16 the unfused path rounds bn(x) to a half before the add, so only the bounds above hold there.
for (const p of PATHS) for (const training of [true, false]) {
  test(`batchNorm + residual + relu (${training ? 'train' : 'eval'}, f32) equals batchNorm then addRelu bit for bit, forward and backward${pathName(p)}`, () => onPath(p, async () => {
    for (const shape of [[3, 8, 4, 4], [2, 7, 5, 7], [3, 5, 1, 3], [2, 3, 128, 128]]) {
      const f = fixture(shape, 'f32', shape.reduce((a, b) => a * b, 5));
      const results: Float32Array[][] = [];
      for (const fused of [true, false]) {
        const t = gpuInputs(f, shape, 'f32', true);
        const res = upload(f.res, shape, 'f32', { requiresGrad: true });
        const o = { training, relu: !!fused };
        const y = fused ? batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, o, res) : addRelu(res, batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, o));
        const yv = await y.read();
        backward(sum(mul(y, upload(f.r, shape))));
        results.push([yv, ...await Promise.all([t.x, t.gamma, t.beta, res].map((v) => v.grad!.read())), await t.rm.read(), await t.rv.read()]);
        for (const v of [...Object.values(t), res]) v.dispose();
      }
      ['y', 'dx', 'dgamma', 'dbeta', 'dresidual', 'runningMean', 'runningVar'].forEach((what, i) =>
        assert.equal(Array.from(results[0]![i]!), Array.from(results[1]![i]!), `[${shape}] ${what}: fused differs from unfused`));
    }
  }));
}

// Naive E[x²] - E[x]² in f32 loses everything here (1e6 - 1e6); the pivoted Welford keeps the f32 bound.
for (const p of PATHS) for (const dtype of DTYPES_UNDER_TEST) {
  test(`batchNorm large-mean input x = 1000 + N(0, 1) keeps the variance (${dtype})${pathName(p)}`, () => onPath(p, async () => {
    const shape = [4, 6, 9, 9];
    const f = fixture(shape, dtype, 5, 0);
    f.x = quantize(new Rng(6).normals(f.x.length).map((v) => 1000 + v), dtype);
    const o = { training: true };
    const t = gpuInputs(f, shape, dtype, true);
    const yT = batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, o);
    const want = batchNormRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, o);
    expectClose(await yT.read(), want.y, FWD[dtype], 'y');
    expectClose(await t.rv.read(), want.runningVar, TOL.f32, 'runningVar');
    expectClose(await t.rm.read(), want.runningMean, TOL.f32, 'runningMean');
    backward(sum(mul(yT, upload(f.r, shape, dtype))));
    const g = batchNormBackwardRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, f.r, o);
    expectClose(await t.x.grad!.read(), g.dx, BWD[dtype], 'dx');
    expectClose(await t.gamma.grad!.read(), g.dgamma, TOL.f32, 'dgamma');
    for (const v of Object.values(t)) v.dispose();
  }));
}

test(subgroupVariantTitle('batchNorm statistics and gradient reductions'), async () => {
  const shape = [2, 3, 5, 7];
  const f = fixture(shape, 'f32', 21);
  const t = gpuInputs(f, shape, 'f32');
  const dy = upload(f.r, shape);
  await expectSubgroupVariants('batch_norm.reduce/', 2, () => {
    const stats = batchNormStats(t.x, t.rm, t.rv, 0.1, 1e-5);
    batchNormBackward(dy, t.x, stats, t.gamma, t.beta, { training: true, relu: false });
  });
  for (const v of [...Object.values(t), dy]) v.dispose();
});

test('batchNorm reductions: the adapter picks the shape (a CPU 8-wide workgroups, a GPU 64-wide), WG_REDUCTION and setReductionShape override it', async () => {
  const shape = [2, 3, 5, 7];
  const f = fixture(shape, 'f32', 23);
  const t = gpuInputs(f, shape, 'f32');
  const dy = upload(f.r, shape);
  const widths = async () => {
    const { step } = capture(() => scope(() => {
      const stats = batchNormStats(t.x, t.rm, t.rv, 0.1, 1e-5);
      batchNormBackward(dy, t.x, stats, t.gamma, t.beta, { training: true, relu: false });
    }));
    try { return (await step.profile()).map((p) => p.kernel).filter((k) => k.startsWith('batch_norm.reduce/')).map((k) => /\/w(\d+)/.exec(k)?.[1]); } finally { step.dispose(); }
  };
  const env = process.env.WG_REDUCTION; // a suite run under WG_REDUCTION=... gets it back
  delete process.env.WG_REDUCTION;
  try {
    assert.is(reductionShape().name, deviceInfo().software ? 'cpu' : 'gpu', `${describeDevice()} takes its own shape`);
    assert.equal(await widths(), deviceInfo().software ? ['8', '8'] : ['64', '64']);
    assert.equal(await withReduction('gpu', widths), ['64', '64']);
    assert.equal(await withReduction('cpu', widths), ['8', '8']);
    process.env.WG_REDUCTION = 'gpu';
    assert.is(reductionShape().name, 'gpu');
    process.env.WG_REDUCTION = 'wide';
    assert.throws(() => reductionShape(), /WG_REDUCTION: unknown reduction shape 'wide'; use one of: cpu, gpu/);
  } finally { if (env === undefined) delete process.env.WG_REDUCTION; else process.env.WG_REDUCTION = env; }
  assert.throws(() => setReductionShape('big' as 'cpu'), /setReductionShape: unknown reduction shape 'big'/);
  for (const v of [...Object.values(t), dy]) v.dispose();
});

test('batchNorm running statistics: PyTorch update with the unbiased variance, over two steps', async () => {
  const shape = [3, 4, 5, 7], n = 3 * 5 * 7;
  const f = fixture(shape, 'f32', 17);
  const t = gpuInputs(f, shape, 'f32');
  noGrad(() => { batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, { training: true }).dispose(); batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, { training: true }).dispose(); });
  // closed form, independent of the reference: two updates with the same batch
  const { mean, var: vb } = batchNormRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, { training: true });
  const wantM = Float64Array.from(f.rm, (r, c) => 0.81 * r + (1 - 0.81) * mean[c]);
  const wantV = Float64Array.from(f.rv, (r, c) => 0.81 * r + (1 - 0.81) * vb[c] * n / (n - 1));
  expectClose(await t.rm.read(), wantM, TOL.f32, 'runningMean');
  expectClose(await t.rv.read(), wantV, TOL.f32, 'runningVar');
  for (const v of Object.values(t)) v.dispose();
});

test('batchNormStats raw: (pivot, mean - pivot, invstd, n) per channel', async () => {
  const shape = [2, 3, 4, 4];
  const f = fixture(shape, 'f32', 3);
  const t = gpuInputs(f, shape, 'f32');
  const s = await download(batchNormStats(t.x, t.rm, t.rv, 0.1, 1e-5));
  const { mean, var: vb } = batchNormRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, { training: true });
  for (let c = 0; c < 3; c++) {
    assert.is(s[4 * c], Math.fround(f.x[c * 16]), 'pivot is x[0, c, 0, 0]');
    assert.ok(Math.abs(s[4 * c] + s[4 * c + 1] - mean[c]) < 1e-5, 'mean');
    assert.ok(Math.abs(s[4 * c + 2] * Math.sqrt(vb[c] + 1e-5) - 1) < 1e-5, 'invstd');
    assert.is(s[4 * c + 3], 32);
  }
  for (const v of Object.values(t)) v.dispose();
});

test('batchNorm: only the tensors that require grad get one', async () => {
  const shape = [2, 3, 4, 4];
  const f = fixture(shape, 'f32', 8);
  const t = gpuInputs(f, shape, 'f32');
  t.gamma.requiresGrad = true;
  backward(sum(mul(batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, { training: true }), upload(f.r, shape))));
  assert.ok(t.x.grad === null && t.beta.grad === null && t.rm.grad === null);
  expectClose(await t.gamma.grad!.read(), batchNormBackwardRef(f.x, shape, f.gamma, f.beta, f.rm, f.rv, f.r, { training: true }).dgamma, TOL.f32, 'dgamma');
  for (const v of Object.values(t)) v.dispose();
});

// Binding windows: under a lowered storage binding limit every pass runs over windows of whole images,
// and must give the whole-tensor results. Catches: a window reducing about its own first image's pivot
// instead of image 0's (its mean and M2 then merge about the wrong K: errors of the size of x's
// spread), partials written over another window's chunks or left unwritten, a chunking or vector
// count computed for the whole batch instead of the window, an elementwise window starting off an
// image. Exact equality cannot hold: a window's chunks split each channel's values differently, so
// Chan's merges and the gradient sums add in another order and f32 results move by a few roundings
// (bound 1e-6; rel-L2 up to 2e-7 seen: f32's 6e-8 rounding times the sums' cancellation); y or dx
// stored in f16 may then round to the neighbouring half (2^-11 relative: TOL_ROUND.f16). Eval mode
// sums nothing for y and dx, so those must be bit-identical.
const WINDOWED = { f32: 1e-6, f16: TOL_ROUND.f16 };
// f32 shapes; f16 doubles C so an image keeps its bytes. Images per window: as many as the limit holds
// with windows starting on the 256-byte offset alignment (every image of 256 bytes, every 2 of 32 KiB,
// every 4 of 1600 or 192 bytes). [4, 2, 64, 64]'s windows happen to cut each channel at the whole
// run's chunk boundaries, so it comes out bit-identical: p0's placement of the partials is exact.
const WINDOW_CASES = [
  { shape: [6, 4, 4, 4], perWindow: 2, windows: 3, what: 'E=4' },
  { shape: [4, 2, 64, 64], perWindow: 2, windows: 2, what: 'E=4, 4 chunks per channel in each window' },
  { shape: [12, 16, 5, 5], perWindow: 4, windows: 3, what: 'E=1, quads straddling planes' },
  { shape: [12, 16, 1, 3], perWindow: 8, windows: 2, what: 'E=1, tiny planes, a short last window' },
];
const shapeIn = (shape: number[], dtype: DType) => [shape[0]!, shape[1]! * (dtype === 'f16' ? 2 : 1), shape[2]!, shape[3]!];
const imageBytes = (shape: number[]) => shape[1]! * shape[2]! * shape[3]! * 4; // f32's C·H·W·4 = f16's 2C·H·W·2

const TAILS = [{ relu: false, res: false }, { relu: true, res: false }, { relu: true, res: true }];
for (const dtype of DTYPES_UNDER_TEST) for (const c of WINDOW_CASES) for (const { relu, res } of TAILS) for (const red of ['cpu', 'gpu'] as const) {
  const shape = shapeIn(c.shape, dtype), limit = c.perWindow * imageBytes(c.shape);
  test(`batchNorm training in ${c.windows} binding windows ${dtype} [${shape}] (${c.what})${res ? ' + residual' : ''}${relu ? ' + relu' : ''}, ${red} reduction, equals the whole-tensor run`, () => withReduction(red, async () => {
    const f = fixture(shape, dtype, shape.reduce((a, b) => a * b, 31));
    const t = gpuInputs(f, shape, dtype);
    const dy = upload(f.r, shape, dtype), C = shape[1]!;
    const residual = res ? upload(f.res, shape, dtype) : undefined;
    const withRes = residual ? { residual } : {};
    await withBindingLimit(limit, () => assert.is(batchWindows('batchNorm', shape[0]!, [t.x]).length, c.windows, 'windows'));
    const Y = WINDOWED[dtype], F = WINDOWED.f32;
    await expectWindowedSame('forward: y, stats, runningMean, runningVar', {
      limit, tol: [Y, F, F, F],
      run: () => {
        const rm = upload(f.rm, [C]), rv = upload(f.rv, [C]); // fresh running statistics: updated in place
        const stats = batchNormStats(t.x, rm, rv, 0.1, 1e-5);
        return [batchNormNormalize(t.x, stats, t.gamma, t.beta, relu, withRes), stats, rm, rv];
      },
    });
    // backward from one set of statistics (computed whole), so only its own reduction is windowed
    // (a residual tail's backward is reluBackward, then the plain backward: both windowed elsewhere)
    const stats = batchNormStats(t.x, t.rm, t.rv, 0.1, 1e-5);
    if (!res) {
      await expectWindowedSame('backward: dx, dgamma, dbeta', {
        limit, tol: [Y, F, F],
        run: () => {
          const g = batchNormBackward(dy, t.x, stats, t.gamma, t.beta, { training: true, relu });
          return [g.dx!, g.dgamma, g.dbeta];
        },
      });
    }
    for (const v of [...Object.values(t), dy, stats, ...(residual ? [residual] : [])]) v.dispose();
  }));
}

for (const dtype of DTYPES_UNDER_TEST) {
  test(`batchNorm eval in binding windows ${dtype} (+ relu): y and dx bit-identical to the whole-tensor run`, async () => {
    const c = WINDOW_CASES[2]!, shape = shapeIn(c.shape, dtype), limit = c.perWindow * imageBytes(c.shape);
    const f = fixture(shape, dtype, 41);
    const t = gpuInputs(f, shape, dtype);
    const dy = upload(f.r, shape, dtype);
    const o = { training: false, relu: true };
    await expectWindowedSame('eval forward: y', { limit, run: () => [noGrad(() => batchNorm(t.x, t.gamma, t.beta, t.rm, t.rv, o))] });
    const stats = batchNormEvalStats(t.rm, t.rv, 1e-5, shape[0]! * shape[2]! * shape[3]!);
    await expectWindowedSame('eval backward: dx, dgamma, dbeta', {
      limit, tol: [0, WINDOWED.f32, WINDOWED.f32],
      run: () => {
        const g = batchNormBackward(dy, t.x, stats, t.gamma, t.beta, o);
        return [g.dx!, g.dgamma, g.dbeta];
      },
    });
    for (const v of [...Object.values(t), dy, stats]) v.dispose();
  });
}

test('batchNorm: wrong shapes and options name the op and the shapes', () => {
  const x = Tensor.zeros([2, 3, 4, 4]), c3 = Tensor.zeros([3]), c4 = Tensor.zeros([4]);
  assert.throws(() => batchNorm(x, c4, c3, c3, c3, { training: true }), /batchNorm: gamma must be \[3\], got \[4\], x is \[2, 3, 4, 4\]/);
  assert.throws(() => batchNorm(x, c3, c3, c3, c4, { training: false }), /batchNorm: runningVar must be \[3\], got \[4\], x is \[2, 3, 4, 4\]/);
  const x3 = Tensor.zeros([2, 3, 4]);
  assert.throws(() => batchNorm(x3, c3, c3, c3, c3, { training: true }), /batchNorm: x must be rank 4, got \[2, 3, 4\]/);
  const x1 = Tensor.zeros([1, 3, 1, 1]);
  assert.throws(() => batchNorm(x1, c3, c3, c3, c3, { training: true }), /batchNorm: training needs more than 1 value per channel, got x \[1, 3, 1, 1\]/);
  noGrad(() => batchNorm(x1, c3, c3, c3, c3, { training: false }).dispose()); // eval is fine with one value
  const h3 = Tensor.zeros([3], 'f16');
  assert.throws(() => batchNorm(x, h3, c3, c3, c3, { training: true }), /batchNorm: gamma must be f32, got f16/);
  assert.throws(() => batchNorm(x, c3, c3, c3, c3, { training: true, momentum: 2 }), /batchNorm: momentum must be in \[0, 1\], got 2/);
  const r5 = Tensor.zeros([2, 3, 4, 5]), rh = Tensor.zeros([2, 3, 4, 4], 'f16');
  assert.throws(() => batchNorm(x, c3, c3, c3, c3, { training: true, relu: true }, r5), /batchNorm: residual must be \[2, 3, 4, 4\], got \[2, 3, 4, 5\], x is \[2, 3, 4, 4\]/);
  assert.throws(() => batchNorm(x, c3, c3, c3, c3, { training: true, relu: true }, rh), /batchNorm: residual must be f32, got f16/);
  for (const t of [x, c3, c4, x3, x1, h3, r5, rh]) t.dispose();
});

test.run();
