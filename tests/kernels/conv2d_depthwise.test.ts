import { test } from 'uvu';
import { Rng, type DType } from '../../engine/index.ts';
import { depthwiseForward, depthwiseDgrad, depthwiseWgrad } from '../../kernels/conv2d_depthwise.ts';
import { channelShuffleForward } from '../../kernels/channel_shuffle.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, TOL, TOL_ROUND, dot } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { expectWindowedSame } from '../util/windows.ts';
import { conv2dShape, shuffledConv2dRef, shuffledConv2dBackwardRef } from '../ref/conv2d.ts';

// Raw depthwise kernels against the float64 reference (shuffle then grouped conv with groups = C).
// Widths cover row tiles with a partial last tile, f16 rows of odd width (the pair fallback), and
// even/odd heights for stride 2; every shuffle group count ShuffleNetV1 uses.
const SHAPES: [number, number, number, number][] = [[2, 24, 7, 9], [3, 24, 5, 5], [2, 24, 6, 10], [2, 8, 8, 8], [1, 24, 1, 3]];
const GROUPS = [1, 2, 3, 4, 8];
// Inputs are exact halves (quantize) and w is f32: y and dx are sums of at most 9 products in f32,
// rounded once to x's dtype (f16: 2^-11 relative, so TOL_ROUND); dw is f32 from exact products of
// halves summed in f32, so f32's bound holds for both dtypes.
// Catches f16 wgrad partial sums stored as halves (rel-L2 2.5e-4: the former 1e-2 let it through).

function data(shape: number[], stride: number, dtype: DType, seed: number) {
  const [N, C, H, W] = shape, rng = new Rng(seed);
  const o = { stride, padding: 1, groups: C };
  const yShape = conv2dShape(shape, [C, 1, 3, 3], o);
  const x = quantize(rng.normals(N * C * H * W), dtype);
  const w = quantize(rng.normals(C * 9, 0.5), 'f32');
  const dy = quantize(rng.normals(yShape.reduce((a, b) => a * b, 1)), dtype);
  return { x, w, dy, o, yShape };
}

test('ref: shuffled depthwise backward matches finite differences', () => {
  for (const stride of [1, 2]) {
    const shape = [2, 6, 5, 4], { x, w, dy, o } = data(shape, stride, 'f32', 3 + stride);
    const wShape = [6, 1, 3, 3];
    const { dx, dw } = shuffledConv2dBackwardRef(x, shape, w, wShape, dy, o, 3);
    gradcheck((v) => dot(dy, shuffledConv2dRef(v, shape, w, wShape, o, 3)), x, dx, `s${stride} dx`);
    gradcheck((v) => dot(dy, shuffledConv2dRef(x, shape, v, wShape, o, 3)), w, dw, `s${stride} dw`);
  }
});

let seed = 100;
for (const shape of SHAPES) {
  for (const stride of [1, 2] as const) {
    for (const dtype of DTYPES_UNDER_TEST) {
      for (const G of GROUPS) {
        if (shape[1] % G) continue;
        test(`depthwise ${dtype} [${shape}] s${stride} shuffle G=${G}: forward, dgrad, wgrad vs ref`, async () => {
          const { x, w, dy, o, yShape } = data(shape, stride, dtype, seed++);
          const wShape = [shape[1], 1, 3, 3];
          const X = upload(x, shape, dtype), Wt = upload(w, wShape), DY = upload(dy, yShape, dtype);
          const ref = shuffledConv2dBackwardRef(x, shape, w, wShape, dy, o, G);
          expectClose(await download(depthwiseForward(X, Wt, stride, G)), shuffledConv2dRef(x, shape, w, wShape, o, G), TOL_ROUND[dtype], 'y');
          expectClose(await download(depthwiseDgrad(DY, Wt, shape, stride, G)), ref.dx, TOL_ROUND[dtype], 'dx');
          expectClose(await download(depthwiseWgrad(X, DY, stride, G)), ref.dw, TOL.f32, 'dw');
          X.dispose(); Wt.dispose(); DY.dispose();
        });
      }
    }
  }
}

// The fused shuffle must equal an explicit shuffle followed by the plain kernel, bit for bit.
for (const [shape, G] of [[[2, 24, 7, 9], 3], [[2, 16, 8, 6], 8], [[3, 12, 5, 5], 4], [[2, 8, 4, 4], 2]] as [number[], number][]) {
  for (const stride of [1, 2] as const) {
    for (const dtype of DTYPES_UNDER_TEST) {
      test(`depthwise ${dtype} [${shape}] s${stride} G=${G}: fused shuffle = shuffle then conv`, async () => {
        const { x, w, dy, yShape } = data(shape, stride, dtype, seed++);
        const X = upload(x, shape, dtype), Wt = upload(w, [shape[1], 1, 3, 3]), DY = upload(dy, yShape, dtype);
        const XS = channelShuffleForward(X, G);
        expectClose(await download(depthwiseForward(X, Wt, stride, G)), await download(depthwiseForward(XS, Wt, stride)), 0, 'y');
        const dxPlain = depthwiseDgrad(DY, Wt, shape, stride);
        expectClose(await download(depthwiseDgrad(DY, Wt, shape, stride, G)), await download(channelShuffleForward(dxPlain, shape[1] / G)), 0, 'dx');
        expectClose(await download(depthwiseWgrad(X, DY, stride, G)), await download(depthwiseWgrad(XS, DY, stride)), 0, 'dw');
        for (const t of [X, Wt, DY, XS, dxPlain]) t.dispose();
      });
    }
  }
}

// Binding windows: under a lowered storage binding limit forward, dgrad and wgrad run over windows of
// whole images (2-4 per tensor over the limit). [shape, limit, dw's bound]: odd planes (f16 rows of odd
// width take the pairs kernels), even planes, and 2x2 planes whose partial sums ([N·bands, C·9], 36·C
// bytes an image) outgrow x and dy: there the partials are windowed with them.
// Catches: a window's images read or written at the whole batch's offsets or with its image count, the
// fused shuffle's channel map shifted by a window, and wgrad windows writing their partial sums over
// another window's rows (dw off by a window's share).
// y and dx only move bindings, so they must be bit-identical, and so must dw where the partial sums are
// bound whole: each (image, band) keeps its row, added in the same order. Where the partials are over
// the limit too, sumColumns adds them per window and then the windows' sums, another order: rel-L2
// 1e-6 (f32 rounding, 6e-8 per add over 16 rows; a lost or doubled window moves dw by ~0.5).
const WINDOW_CASES: [number[], number, number][] = [
  [[8, 32, 7, 7], 18432, 0],
  [[6, 16, 8, 8], 8192, 0],
  [[16, 32, 2, 2], 4608, 1e-6],
];
for (const [shape, limit, dwTol] of WINDOW_CASES) {
  for (const stride of [1, 2] as const) {
    for (const dtype of DTYPES_UNDER_TEST) {
      const G = shape[1] === 16 ? 8 : 4;
      test(`depthwise ${dtype} [${shape}] s${stride} shuffle G=${G} in binding windows (limit ${limit}): y, dx, dw equal the whole run`, async () => {
        const { x, w, dy, yShape } = data(shape, stride, dtype, seed++);
        const X = upload(x, shape, dtype), Wt = upload(w, [shape[1], 1, 3, 3]), DY = upload(dy, yShape, dtype);
        await expectWindowedSame('depthwise', {
          limit, tol: [0, 0, dwTol],
          run: () => [depthwiseForward(X, Wt, stride, G), depthwiseDgrad(DY, Wt, shape, stride, G), depthwiseWgrad(X, DY, stride, G)],
        });
        X.dispose(); Wt.dispose(); DY.dispose();
      });
    }
  }
}

test.run();
