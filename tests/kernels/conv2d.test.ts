import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, type DType } from '../../engine/index.ts';
import { conv2d, conv2dVariant, type Conv2dOptions } from '../../kernels/conv2d.ts';
import { directForward, directDgrad, directWgrad, directTileCandidates } from '../../kernels/conv2d_direct.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, KeptOutputs } from '../util/gpu.ts';
import { expectClose, TOL, TOL_ROUND, dot } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { expectWindowedSame } from '../util/windows.ts';
import { conv2dRef, conv2dBackwardRef, conv2dShape, shuffledConv2dRef, shuffledConv2dBackwardRef, type ConvRefOpts } from '../ref/conv2d.ts';

// Inputs are exact halves (quantize), w is f32, and every sum is f32: y and dx are rounded once to x's
// dtype (f16: 2^-11 relative, so TOL_ROUND), while dw (f32, exact products of halves) and w.grad (the
// op's dy = r·1 stays exact in halves) keep f32's bound for both dtypes. K = Cin/G·KH·KW is at most 150
// here, so the f32 sums' own rounding (~sqrt(K)·2^-24) is far below either.
// Catches y accumulated in halves over its K taps (rel-L2 1.1e-3 at K = 150, 1.3e-3 at K = 90: 5e-3 let it through).
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function data(xShape: number[], wShape: number[], o: ConvRefOpts, dtype: DType, seed: number) {
  const rng = new Rng(seed);
  const yShape = conv2dShape(xShape, wShape, o);
  return {
    x: quantize(rng.normals(numel(xShape)), dtype),
    w: quantize(rng.normals(numel(wShape), 0.5), 'f32'),
    dy: quantize(rng.normals(numel(yShape)), dtype),
    yShape,
  };
}

test('ref: conv2d backward matches finite differences (groups, stride, padding, non-square kernels)', () => {
  const cases: [number[], number[], ConvRefOpts][] = [
    [[2, 3, 5, 4], [4, 3, 3, 3], { stride: 2, padding: 1, groups: 1 }],
    [[1, 6, 5, 5], [4, 2, 2, 3], { stride: 1, padding: 2, groups: 3 }],
    [[2, 4, 4, 3], [6, 2, 1, 1], { stride: 1, padding: 0, groups: 2 }],
    [[1, 4, 7, 6], [4, 1, 3, 3], { stride: 3, padding: 1, groups: 4 }],
  ];
  for (const [xShape, wShape, o] of cases) {
    const { x, w, dy } = data(xShape, wShape, o, 'f32', 1);
    const { dx, dw } = conv2dBackwardRef(x, xShape, w, wShape, dy, o);
    gradcheck((v) => dot(dy, conv2dRef(v, xShape, w, wShape, o)), x, dx, `[${xShape}]*[${wShape}] dx`);
    gradcheck((v) => dot(dy, conv2dRef(x, xShape, v, wShape, o)), w, dw, `[${xShape}]*[${wShape}] dw`);
  }
});

// Raw direct kernels: the stem (Cin = 3, dense 3x3, stride 2 and 1), grouped 3x3 and 1x1 with every
// ShuffleNet group count, a 5x5 kernel, stride 3, and a window too big to unroll (the loop variant).
const DIRECT: [number[], number[], ConvRefOpts][] = [
  [[2, 3, 9, 7], [24, 3, 3, 3], { stride: 2, padding: 1, groups: 1 }],
  [[2, 3, 7, 9], [8, 3, 3, 3], { stride: 1, padding: 1, groups: 1 }],
  [[2, 8, 5, 7], [16, 4, 3, 3], { stride: 1, padding: 1, groups: 2 }],
  [[3, 12, 5, 5], [12, 4, 3, 3], { stride: 2, padding: 1, groups: 3 }],
  [[2, 16, 4, 5], [24, 4, 1, 1], { stride: 1, padding: 0, groups: 4 }],
  [[2, 24, 3, 5], [16, 3, 1, 1], { stride: 1, padding: 0, groups: 8 }],
  [[2, 6, 7, 7], [4, 6, 5, 5], { stride: 3, padding: 2, groups: 1 }],
  [[2, 10, 5, 6], [6, 10, 3, 3], { stride: 1, padding: 1, groups: 1 }],
  [[1, 3, 6, 6], [5, 3, 2, 2], { stride: 2, padding: 0, groups: 1 }],
];

let seed = 10;
for (const [xShape, wShape, o] of DIRECT) {
  for (const dtype of DTYPES_UNDER_TEST) {
    test(`direct ${dtype} x[${xShape}] w[${wShape}] s${o.stride} p${o.padding} g${o.groups}: forward, dgrad, wgrad vs ref`, async () => {
      const { x, w, dy, yShape } = data(xShape, wShape, o, dtype, seed++);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), DY = upload(dy, yShape, dtype);
      const ref = conv2dBackwardRef(x, xShape, w, wShape, dy, o);
      expectClose(await download(directForward(X, Wt, o)), conv2dRef(x, xShape, w, wShape, o), TOL_ROUND[dtype], 'y');
      expectClose(await download(directDgrad(DY, Wt, xShape, o)), ref.dx, TOL_ROUND[dtype], 'dx');
      expectClose(await download(directWgrad(X, DY, wShape, o)), ref.dw, TOL.f32, 'dw');
      X.dispose(); Wt.dispose(); DY.dispose();
    });
  }
}

// The tuner may pick any forward tile (output channels per invocation x workgroup size), so each must
// give the default's bits on every shape above (f16's odd planes take the pairs kernel: no tiles).
for (const dtype of DTYPES_UNDER_TEST) {
  test(`direct ${dtype} forward: every tile the tuner may pick gives the default tile's bits`, async () => {
    let compared = 0;
    for (const [xShape, wShape, o] of DIRECT) {
      const [, , Ho, Wo] = conv2dShape(xShape, wShape, o);
      if (dtype === 'f16' && (Ho! * Wo!) % 2 === 1) continue; // the pairs kernel: no tiles
      const { x, w } = data(xShape, wShape, o, dtype, 77);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), kept = new KeptOutputs();
      const [def, ...rest] = directTileCandidates(wShape, o.groups);
      const want = await kept.read(directForward(X, Wt, o, def));
      for (const t of rest) {
        assert.equal(await kept.read(directForward(X, Wt, o, t)), want, `x[${xShape}] w[${wShape}] COT${t.COT} WG${t.WG} against COT${def!.COT} WG${def!.WG}`);
        compared++;
      }
      kept.dispose(); X.dispose(); Wt.dispose();
    }
    assert.ok(compared > 15, `${compared} tiles compared`);
  });
}

// Binding windows: under a lowered storage binding limit the direct kernels (forward, dgrad, wgrad's
// partial sums) run over windows of 2-4 images of each tensor over the limit: the stem at stride 2 and
// 1, and a grouped strided 1x1 with odd planes (f16 y and dx 5x5 / 3x3: the pairs kernels). The limit
// per dtype is no smaller than wgrad's partial sums, bound whole ([weights, chunks of 64 positions]:
// about as many bytes as an f16 dy), and leaves that buffer's chunks fitting once windows restart them.
// Catches: a window's images read or written at the whole batch's offsets or with its position count,
// and wgrad windows writing their partial sums over another window's columns (dw off by a window's share).
// y and dx only move bindings, so they must be bit-identical; dw's chunks restart at each window, so
// its f32 sums are added in another order: rel-L2 1e-6 (f32 rounding, 6e-8 per add over sums of at most
// 1024 terms; a lost or doubled window moves dw by ~0.5).
const WINDOWED_DW = 1e-6;
const DIRECT_WINDOWS: [number[], number[], ConvRefOpts, Record<DType, number>][] = [
  [[16, 3, 8, 8], [24, 3, 3, 3], { stride: 2, padding: 1, groups: 1 }, { f32: 12288, f16: 10368 }],
  [[16, 3, 8, 8], [8, 3, 3, 3], { stride: 1, padding: 1, groups: 1 }, { f32: 16384, f16: 14336 }],
  [[16, 32, 5, 5], [16, 8, 1, 1], { stride: 2, padding: 0, groups: 4 }, { f32: 12800, f16: 12800 }],
];
for (const [xShape, wShape, o, limits] of DIRECT_WINDOWS) {
  for (const dtype of DTYPES_UNDER_TEST) {
    test(`direct ${dtype} x[${xShape}] w[${wShape}] s${o.stride} g${o.groups} in binding windows (limit ${limits[dtype]}): y, dx, dw equal the whole run`, async () => {
      const { x, w, dy, yShape } = data(xShape, wShape, o, dtype, seed++);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), DY = upload(dy, yShape, dtype);
      await expectWindowedSame('direct', {
        limit: limits[dtype], tol: [0, 0, WINDOWED_DW],
        run: () => [directForward(X, Wt, o), directDgrad(DY, Wt, xShape, o), directWgrad(X, DY, wShape, o)],
      });
      X.dispose(); Wt.dispose(); DY.dispose();
    });
  }
}

// The op on every path, through autograd: L = Σ r·conv2d(x, w), so x.grad and w.grad are the refs' dx, dw.
const OP: [string, number[], number[], Conv2dOptions][] = [
  ['depthwise s1 + shuffle', [2, 12, 7, 9], [12, 1, 3, 3], { stride: 1, padding: 1, groups: 12, shuffleGroups: 3 }],
  ['depthwise s2', [2, 16, 6, 5], [16, 1, 3, 3], { stride: 2, padding: 1, groups: 16 }],
  ['1x1 grouped', [2, 12, 5, 7], [24, 3, 1, 1], { groups: 4 }],
  ['1x1 grouped + shuffle', [2, 16, 3, 5], [8, 8, 1, 1], { groups: 2, shuffleGroups: 8 }],
  ['1x1 dense', [3, 6, 4, 3], [10, 6, 1, 1], {}],
  ['stem s2', [2, 3, 9, 8], [24, 3, 3, 3], { stride: 2, padding: 1 }],
  ['stem s1', [2, 3, 5, 7], [12, 3, 3, 3], { stride: 1, padding: 1 }],
  ['direct grouped 3x3 + shuffle', [2, 8, 5, 5], [8, 2, 3, 3], { stride: 1, padding: 1, groups: 4, shuffleGroups: 2 }],
];

for (const [name, xShape, wShape, opts] of OP) {
  for (const dtype of DTYPES_UNDER_TEST) {
    test(`conv2d op ${name} ${dtype} (${conv2dVariant(xShape, wShape, opts)}): y, x.grad, w.grad vs ref`, async () => {
      const o = { stride: opts.stride ?? 1, padding: opts.padding ?? 0, groups: opts.groups ?? 1 };
      const G = opts.shuffleGroups ?? 1;
      const { x, w, dy: r, yShape } = data(xShape, wShape, o, dtype, seed++);
      const X = upload(x, xShape, dtype, { requiresGrad: true }), Wt = upload(w, wShape, 'f32', { requiresGrad: true }), R = upload(r, yShape, dtype);
      const y = conv2d(X, Wt, opts);
      assert.equal([...y.shape], yShape);
      assert.is(y.dtype, dtype);
      expectClose(await y.read(), shuffledConv2dRef(x, xShape, w, wShape, o, G), TOL_ROUND[dtype], 'y');
      backward(sum(mul(y, R)));
      const ref = shuffledConv2dBackwardRef(x, xShape, w, wShape, r, o, G);
      expectClose(await X.grad!.read(), ref.dx, TOL_ROUND[dtype], 'x.grad');
      expectClose(await Wt.grad!.read(), ref.dw, TOL.f32, 'w.grad');
      assert.is(Wt.grad!.dtype, 'f32');
      for (const t of [X, Wt, R, y]) t.dispose();
    });
  }
}

test('conv2d op: x without requiresGrad gets no dgrad (the stem)', async () => {
  const xShape = [2, 3, 6, 6], wShape = [8, 3, 3, 3], o = { stride: 2, padding: 1, groups: 1 };
  const { x, w, dy: r, yShape } = data(xShape, wShape, o, 'f32', 99);
  const X = upload(x, xShape), Wt = upload(w, wShape, 'f32', { requiresGrad: true }), R = upload(r, yShape);
  backward(sum(mul(conv2d(X, Wt, o), R)));
  assert.is(X.grad, null);
  expectClose(await Wt.grad!.read(), conv2dBackwardRef(x, xShape, w, wShape, r, o).dw, TOL.f32, 'w.grad');
  for (const t of [X, Wt, R]) t.dispose();
});

test('conv2d picks the kernel family by shape', () => {
  assert.is(conv2dVariant([8, 60, 28, 28], [60, 1, 3, 3], { stride: 2, padding: 1, groups: 60 }), 'depthwise');
  assert.is(conv2dVariant([8, 60, 28, 28], [60, 1, 3, 3], { stride: 1, padding: 1, groups: 60, shuffleGroups: 3 }), 'depthwise');
  assert.is(conv2dVariant([8, 3, 224, 224], [24, 3, 3, 3], { stride: 2, padding: 1 }), 'direct');
  assert.is(conv2dVariant([8, 480, 28, 28], [120, 160, 1, 1], { groups: 3 }), 'pointwise');
  assert.is(conv2dVariant([8, 480, 28, 28], [120, 160, 1, 1], { groups: 3, shuffleGroups: 3 }), 'pointwise');
  assert.is(conv2dVariant([8, 60, 28, 28], [60, 60, 1, 1], { stride: 2 }), 'direct');
  assert.is(conv2dVariant([8, 60, 28, 28], [60, 1, 3, 3], { stride: 1, padding: 0, groups: 60 }), 'direct');
  assert.is(conv2dVariant([8, 60, 28, 28], [60, 1, 3, 3], { stride: 3, padding: 1, groups: 60 }), 'direct');
});

test('conv2d: bad arguments name the op and both shapes', () => {
  const x = Tensor.empty([8, 12, 56, 56]), w = Tensor.empty([240, 12, 3, 3]), w1 = Tensor.empty([240, 4, 3, 3]);
  const x16 = Tensor.empty([2, 10, 5, 5]), w16 = Tensor.empty([4, 10, 1, 1], 'f16'), x3 = Tensor.empty([10, 5, 5]);
  assert.throws(() => conv2d(x, w, { groups: 3 }), (e: Error) => e.message === 'conv2d: w must be [240, 4, *, *], got [240, 12, 3, 3], x is [8, 12, 56, 56]');
  assert.throws(() => conv2d(x, w1, { groups: 5 }), /conv2d: Cin=12 is not divisible by groups=5 \(x is \[8, 12, 56, 56\], w is \[240, 4, 3, 3\]\)/);
  assert.throws(() => conv2d(x16, Tensor.empty([5, 5, 1, 1]), { groups: 2 }), /conv2d: Cout=5 is not divisible by groups=2 \(x is \[2, 10, 5, 5\], w is \[5, 5, 1, 1\]\)/);
  assert.throws(() => conv2d(x16, Tensor.empty([4, 10, 7, 7])), /conv2d: output would be -1x-1: .*x is \[2, 10, 5, 5\], w is \[4, 10, 7, 7\]/);
  assert.throws(() => conv2d(x3, w1), /conv2d: x must be rank 4, got \[10, 5, 5\]/);
  assert.throws(() => conv2d(x16, w16), /conv2d: w must be f32, got f16/);
  assert.throws(() => conv2d(x16, Tensor.empty([4, 10, 1, 1]), { shuffleGroups: 3 }), /conv2d: shuffleGroups=3 must be a positive integer dividing Cin=10/);
  assert.throws(() => conv2d(x16, Tensor.empty([4, 10, 1, 1]), { stride: 0 }), /conv2d: stride must be a positive integer, got 0/);
});

test.run();
