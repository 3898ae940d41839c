import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, type DType } from '../../engine/index.ts';
import { pointwiseForward, pointwiseDgrad, pointwiseWgrad, pointwiseConv, pixelVector, type GemmTiles } from '../../kernels/conv2d_pointwise.ts';
import type { WgradGpuTiles } from '../../kernels/conv2d_pointwise_wgrad_gpu.ts';
import { tiledFits, type TiledTiles } from '../../kernels/conv2d_pointwise_tiled.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, REDUCTION_PATHS, reductionPathName, onReductionPath, withReduction, expectSubgroupVariants, subgroupVariantTitle } from '../util/gpu.ts';
import { expectClose, TOL, TOL_ROUND, dot } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { expectWindowedSame } from '../util/windows.ts';
import { pointwiseRef, pointwiseBackwardRef } from '../ref/conv2d_pointwise.ts';

// [N, Cin, Cout, H, W, G]: every ShuffleNetV1 group count; H·W odd (single-pixel access, f16 through
// the f32 staging + pack pass), even (pairs) and a multiple of 4 (vec4); reduction lengths K = Cin/G
// and M = Cout/G that are and are not multiples of 4; output channels that do not fill a tile.
const SHAPES: [number, number, number, number, number, number][] = [
  [2, 12, 24, 5, 7, 3],
  [3, 24, 16, 3, 3, 8],
  [1, 8, 12, 1, 1, 4],
  [2, 16, 40, 4, 4, 2],
  [3, 20, 10, 2, 3, 1],
  [2, 36, 60, 6, 6, 3],
  [2, 48, 24, 1, 1, 8],
  [1, 30, 60, 5, 5, 3],
];
// Inputs are exact halves (quantize), w is f32 and every sum f32 (f16 cases: at most 72 terms, ~1e-7):
// y and dx are rounded once to halves for f16 (2^-11 relative, so TOL_ROUND, where 5e-3 and 1e-2
// allowed ten and twenty times that), dw is f32 from exact products of halves, so f32's bound holds.
const FWD_TOL = TOL_ROUND;
const DGRAD_TOL = TOL_ROUND;

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function data(N: number, Cin: number, Cout: number, H: number, W: number, G: number, dtype: DType, seed: number) {
  const rng = new Rng(seed);
  const xShape = [N, Cin, H, W], wShape = [Cout, Cin / G, 1, 1], yShape = [N, Cout, H, W];
  const x = quantize(rng.normals(numel(xShape)), dtype);
  const w = quantize(rng.normals(numel(wShape), 0.5), 'f32');
  const dy = quantize(rng.normals(numel(yShape)), dtype);
  return { x, w, dy, xShape, wShape, yShape };
}

test('ref: backward matches finite differences', () => {
  for (const G of [1, 3]) {
    const { x, w, dy, xShape } = data(2, 6, 9, 2, 3, G, 'f32', 7 + G);
    const { dx, dw } = pointwiseBackwardRef(x, xShape, w, dy, 9, G);
    gradcheck((v) => dot(dy, pointwiseRef(v, xShape, w, 9, G)), x, dx, `G=${G} dx`);
    gradcheck((v) => dot(dy, pointwiseRef(x, xShape, v, 9, G)), w, dw, `G=${G} dw`);
  }
});

let seed = 1;
for (const [N, Cin, Cout, H, W, G] of SHAPES) {
  for (const dtype of DTYPES_UNDER_TEST) {
    test(`pointwise ${dtype} x [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} G=${G}: forward, dgrad, wgrad vs ref`, async () => {
      const { x, w, dy, xShape, wShape, yShape } = data(N, Cin, Cout, H, W, G, dtype, seed++);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), DY = upload(dy, yShape, dtype);
      const ref = pointwiseBackwardRef(x, xShape, w, dy, Cout, G);
      expectClose(await download(pointwiseForward(X, Wt, G)), pointwiseRef(x, xShape, w, Cout, G), FWD_TOL[dtype], 'y');
      expectClose(await download(pointwiseDgrad(DY, Wt, G, xShape)), ref.dx, DGRAD_TOL[dtype], 'dx');
      // wgrad's first pass takes the reduction shape (cpu: an invocation per chunk; gpu: a workgroup
      // per chunk, combined by subgroups or a tree in workgroup memory): every path
      for (const p of REDUCTION_PATHS) expectClose(await onReductionPath(p, () => download(pointwiseWgrad(X, DY, G))), ref.dw, TOL.f32, `dw${reductionPathName(p)}`);
      X.dispose(); Wt.dispose(); DY.dispose();
    });
  }
}

// Tile shapes other than the default choice, including tiles wider than the problem, must agree; so must
// the shared-memory kernel's (workgroups of 16-256, reduction slices shorter and longer than R, rows
// of x's tile loaded in one pass or several) wherever this device's limits take them.
const TILES: GemmTiles[] = [{ TM: 4, TPV: 1, WGX: 8 }, { TM: 8, TPV: 2, WGX: 16 }, { TM: 16, TPV: 4, WGX: 64 }, { TM: 2, TPV: 3, WGX: 32 }, { TM: 16, TPV: 8, WGX: 8 }];
const TILED: TiledTiles[] = [
  { TM: 4, TPV: 1, WGX: 16, WGY: 16, BK: 16 }, { TM: 4, TPV: 2, WGX: 16, WGY: 8, BK: 8 }, { TM: 3, TPV: 1, WGX: 4, WGY: 4, BK: 4 },
  { TM: 1, TPV: 2, WGX: 8, WGY: 4, BK: 6 }, { TM: 2, TPV: 2, WGX: 8, WGY: 8, BK: 32 },
];
// wgrad's gpu-shape tiles: rows 1-16 (more than M here: clamped rows store nothing), 1-2 vec4s of columns
const GPU_WGRAD_TILES: WgradGpuTiles[] = [{ TM: 1, TQ: 1 }, { TM: 4, TQ: 2 }, { TM: 3, TQ: 1 }, { TM: 8, TQ: 2 }, { TM: 16, TQ: 1 }];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, Cin, Cout, H, W, G] of [[3, 24, 36, 4, 6, 3], [2, 12, 20, 3, 5, 2]]) {
    test(`pointwise ${dtype} [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} G=${G}: every tiling agrees with the ref`, async () => {
      const { x, w, dy, xShape, wShape, yShape } = data(N, Cin, Cout, H, W, G, dtype, 50 + H);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), DY = upload(dy, yShape, dtype);
      const y = pointwiseRef(x, xShape, w, Cout, G), { dx, dw } = pointwiseBackwardRef(x, xShape, w, dy, Cout, G);
      const tiled = TILED.filter((t) => tiledFits(t, pixelVector(H * W)));
      assert.ok(tiled.length >= 3, `the shared-memory tilings run here: ${tiled.length}`);
      for (const tiles of [...TILES, ...tiled]) {
        expectClose(await download(pointwiseForward(X, Wt, G, { tiles })), y, FWD_TOL[dtype], `y ${JSON.stringify(tiles)}`);
        expectClose(await download(pointwiseDgrad(DY, Wt, G, xShape, tiles)), dx, DGRAD_TOL[dtype], `dx ${JSON.stringify(tiles)}`);
      }
      await withReduction('cpu', async () => {
        for (const tiles of [{ TM: 1, TK: 1 }, { TM: 4, TK: 8 }, { TM: 3, TK: 5 }, { TM: 16, TK: 8, WGX: 8 }, { TM: 8, TK: 16 }]) {
          expectClose(await download(pointwiseWgrad(X, DY, G, tiles)), dw, TOL.f32, `dw ${JSON.stringify(tiles)}`);
        }
      });
      for (const p of REDUCTION_PATHS.filter((q) => q.red === 'gpu')) {
        await onReductionPath(p, async () => {
          for (const tiles of GPU_WGRAD_TILES) expectClose(await download(pointwiseWgrad(X, DY, G, tiles)), dw, TOL.f32, `dw ${JSON.stringify(tiles)}${reductionPathName(p)}`);
        });
      }
      X.dispose(); Wt.dispose(); DY.dispose();
    });
  }
}

// Folded inference: bias per output channel (and ReLU) in the GEMM's epilogue, vs ref + bias.
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, Cin, Cout, H, W, G] of [[2, 12, 24, 5, 7, 3], [2, 36, 60, 6, 6, 3], [3, 24, 16, 3, 3, 8], [2, 20, 10, 2, 3, 1]]) {
    for (const relu of [false, true]) {
      test(`pointwise ${dtype} x [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} G=${G}: bias${relu ? ' + ReLU' : ''} epilogue`, async () => {
        const { x, w, xShape, wShape } = data(N, Cin, Cout, H, W, G, dtype, 70 + Cout + (relu ? 1 : 0));
        const b = new Rng(5 + Cout).normals(Cout);
        const X = upload(x, xShape, dtype), Wt = upload(w, wShape), B = upload(b, [Cout]);
        const P = H * W, y = pointwiseRef(x, xShape, w, Cout, G).map((v, i) => v + b[Math.floor(i / P) % Cout]);
        const want = relu ? y.map((v) => Math.max(v, 0)) : y;
        expectClose(await download(pointwiseForward(X, Wt, G, { bias: B, relu })), want, FWD_TOL[dtype], 'y');
        expectClose(await download(pointwiseForward(X, Wt, G, { bias: B, relu, tiles: TILED[1] })), want, FWD_TOL[dtype], 'y, shared-memory kernel');
        X.dispose(); Wt.dispose(); B.dispose();
      });
    }
  }
}

// A long reduction (N·H·W = 2·48·48) takes wgrad's chunked path with many chunks, and forward wider tiles.
test('pointwise f32 [2, 12, 48, 48] -> 16 G=4: long reductions', async () => {
  const { x, w, dy, xShape, wShape, yShape } = data(2, 12, 16, 48, 48, 4, 'f32', 99);
  const X = upload(x, xShape), Wt = upload(w, wShape), DY = upload(dy, yShape);
  const ref = pointwiseBackwardRef(x, xShape, w, dy, 16, 4);
  expectClose(await download(pointwiseForward(X, Wt, 4)), pointwiseRef(x, xShape, w, 16, 4), TOL.f32, 'y');
  expectClose(await download(pointwiseDgrad(DY, Wt, 4, xShape)), ref.dx, TOL.f32, 'dx');
  for (const p of REDUCTION_PATHS) expectClose(await onReductionPath(p, () => download(pointwiseWgrad(X, DY, 4))), ref.dw, TOL.f32, `dw${reductionPathName(p)}`);
  X.dispose(); Wt.dispose(); DY.dispose();
});

// The gpu reduction shape dispatches wgrad's workgroup kernel, its subgroup variant where enabled.
test(subgroupVariantTitle('pointwise wgrad, gpu reduction shape'), () => withReduction('gpu', async () => {
  const { x, dy, xShape, yShape } = data(2, 12, 16, 6, 6, 4, 'f32', 98);
  const X = upload(x, xShape), DY = upload(dy, yShape);
  await expectSubgroupVariants('conv2d_pointwise.wgrad_gpu', 1, () => { pointwiseWgrad(X, DY, 4); });
  X.dispose(); DY.dispose();
}));

test('pointwise wgrad: tiles of the other reduction shape are refused, naming the shape', async () => {
  const { x, dy, xShape, yShape } = data(2, 12, 16, 2, 2, 4, 'f32', 97);
  const X = upload(x, xShape), DY = upload(dy, yShape);
  await withReduction('cpu', () => assert.throws(() => pointwiseWgrad(X, DY, 4, { TM: 4, TQ: 1 }), /gpu reduction shape's; this run takes the cpu shape's/));
  await withReduction('gpu', () => assert.throws(() => pointwiseWgrad(X, DY, 4, { TM: 4, TK: 4 }), /cpu reduction shape's; this run takes the gpu shape's/));
  await withReduction('gpu', () => assert.throws(() => pointwiseWgrad(X, DY, 4, { TM: 16, TQ: 2 }), /do not fit/));
  X.dispose(); DY.dispose();
});

// Writing into a channel slice of a bigger tensor leaves the other channels exactly as they were
// (f16 with odd H·W rewrites words shared with the neighbouring channels).
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [H, W, off, Ctot] of [[3, 3, 5, 20], [2, 2, 3, 16], [1, 1, 1, 14], [3, 5, 0, 12]]) {
    test(`pointwise ${dtype} into channels [${off}, ${off + 12}) of ${Ctot}, ${H}x${W}`, async () => {
      const N = 2, Cin = 6, Cout = 12, G = 3;
      const { x, w, xShape, wShape } = data(N, Cin, Cout, H, W, G, dtype, 200 + off);
      const outShape = [N, Ctot, H, W];
      const before = quantize(new Rng(3).normals(numel(outShape)), dtype);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), out = upload(before, outShape, dtype);
      const y = pointwiseRef(x, xShape, w, Cout, G);
      const ret = pointwiseForward(X, Wt, G, { out, channelOffset: off });
      assert.ok(ret === out, 'returns out');
      const got = await out.read();
      const P = H * W, want = Float64Array.from(before);
      for (let n = 0; n < N; n++) for (let c = 0; c < Cout; c++) for (let p = 0; p < P; p++) want[(n * Ctot + off + c) * P + p] = y[(n * Cout + c) * P + p];
      const inside = (i: number) => { const c = Math.floor(i / P) % Ctot; return c >= off && c < off + Cout; };
      const idx = [...want.keys()];
      expectClose(idx.filter(inside).map((i) => got[i]), idx.filter(inside).map((i) => want[i]), FWD_TOL[dtype], 'slice');
      expectClose(idx.filter((i) => !inside(i)).map((i) => got[i]), idx.filter((i) => !inside(i)).map((i) => want[i]), 0, 'outside');
      X.dispose(); Wt.dispose(); out.dispose();
    });
  }
}

// Binding windows: under a lowered storage binding limit the GEMM (and, for f16 with odd H·W, the
// staging tensor's pack pass), dgrad and wgrad run over windows of 2-6 images. [N, Cin, Cout, H, W, G,
// limit]: odd H·W (f16 staged, 3-6 windows), vec4 pixels (2-4 windows), G = 4 with 2 windows.
// Catches: a window's images read or written at the whole batch's offsets (or its pixel count left at
// the whole batch's), a pack pass that splits a word between windows or packs the wrong window, and
// wgrad windows whose chunks overwrite each other's partial sums (dw off by a window's share).
// y and dx only move bindings, so they must be bit-identical; dw's chunks of the N·H·W reduction start
// afresh at each window, so its f32 sums are added in another order: rel-L2 1e-6 (f32 rounding, 6e-8
// per add over sums of at most 108 terms; a lost or doubled window moves dw by ~0.3).
const WINDOWED_DW = 1e-6;
const WINDOW_CASES: [number, number, number, number, number, number, number][] = [
  [12, 32, 32, 3, 3, 8, 4608],
  [12, 16, 32, 4, 4, 2, 6144],
  [12, 32, 32, 3, 3, 4, 9216],
];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, Cin, Cout, H, W, G, limit] of WINDOW_CASES) {
    // wgrad binds x and dy only: it windows where one of them is over the limit (not f16 [12, 32, 3, 3])
    const wgradWindows = N * Math.max(Cin, Cout) * H * W * (dtype === 'f16' ? 2 : 4) > limit;
    test(`pointwise ${dtype} [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} G=${G} in binding windows (limit ${limit}): y, bias + ReLU, dx, dw${wgradWindows ? ' (both reduction shapes)' : ''} equal the whole run`, async () => {
      const { x, w, dy, xShape, wShape, yShape } = data(N, Cin, Cout, H, W, G, dtype, 500 + Cin + G);
      const X = upload(x, xShape, dtype), Wt = upload(w, wShape), DY = upload(dy, yShape, dtype), B = upload(new Rng(9).normals(Cout), [Cout]);
      await expectWindowedSame('pointwise', {
        limit, tol: [0, 0, 0, WINDOWED_DW],
        run: () => [pointwiseForward(X, Wt, G), pointwiseForward(X, Wt, G, { bias: B, relu: true, tiles: TILED[3] }), pointwiseDgrad(DY, Wt, G, xShape), pointwiseWgrad(X, DY, G)],
      });
      if (wgradWindows) await withReduction('gpu', () => expectWindowedSame('pointwise wgrad, gpu reduction shape', { limit, tol: [WINDOWED_DW], run: () => [pointwiseWgrad(X, DY, G)] }));
      X.dispose(); Wt.dispose(); DY.dispose(); B.dispose();
    });
  }
  // the concat path: y into a channel slice of out, f16 with odd H·W rewriting the words it shares with
  // the neighbouring channels; every window must leave the channels outside the slice as they were
  test(`pointwise ${dtype} into channels [16, 48) of 64 in binding windows: out equals the whole run`, async () => {
    const [N, Cin, Cout, H, W, G] = [12, 32, 32, 3, 3, 8];
    const { x, w, xShape, wShape } = data(N, Cin, Cout, H, W, G, dtype, 600);
    const outShape = [N, 64, H, W], before = quantize(new Rng(4).normals(numel(outShape)), dtype);
    const X = upload(x, xShape, dtype), Wt = upload(w, wShape);
    await expectWindowedSame('pointwise into a slice', {
      limit: 4608, run: () => [pointwiseForward(X, Wt, G, { out: upload(before, outShape, dtype), channelOffset: 16 })],
    });
    X.dispose(); Wt.dispose();
  });
}

// L = Σ r·pointwiseConv(x, w, G): the op's backward gives dx and dw of the ref with dy = r.
for (const dtype of DTYPES_UNDER_TEST) {
  test(`pointwiseConv ${dtype} autograd end to end`, async () => {
    const [N, Cin, Cout, H, W, G] = [2, 12, 24, 3, 5, 3];
    const { x, w, dy: r, xShape, wShape, yShape } = data(N, Cin, Cout, H, W, G, dtype, 300);
    const X = upload(x, xShape, dtype, { requiresGrad: true }), Wt = upload(w, wShape, 'f32', { requiresGrad: true });
    const R = upload(r, yShape, dtype);
    backward(sum(mul(pointwiseConv(X, Wt, G), R)));
    const ref = pointwiseBackwardRef(x, xShape, w, r, Cout, G);
    expectClose(await X.grad!.read(), ref.dx, DGRAD_TOL[dtype], 'x.grad');
    expectClose(await Wt.grad!.read(), ref.dw, TOL.f32, 'w.grad'); // f16: dy = r·1 is exact in halves, dw an f32 sum
    X.dispose(); Wt.dispose(); R.dispose();
  });
}

test('pointwiseConv: only the inputs that need a gradient get one', async () => {
  const { x, w, xShape, wShape } = data(1, 6, 6, 2, 2, 2, 'f32', 400);
  const X = upload(x, xShape), Wt = upload(w, wShape, 'f32', { requiresGrad: true });
  backward(sum(pointwiseConv(X, Wt, 2)));
  assert.is(X.grad, null);
  const want = pointwiseBackwardRef(x, xShape, w, new Float64Array(24).fill(1), 6, 2).dw;
  expectClose(await Wt.grad!.read(), want, TOL.f32, 'w.grad');
  X.dispose(); Wt.dispose();
});

test('pointwiseConv: bad arguments name the op and the shapes', () => {
  const x = Tensor.zeros([2, 12, 3, 3]);
  const w = Tensor.zeros([24, 5, 1, 1]);
  assert.throws(() => pointwiseConv(x, w, 3), /pointwiseConv: w must be \[24, 4, 1, 1\], got \[24, 5, 1, 1\], x is \[2, 12, 3, 3\]/);
  const w3 = Tensor.zeros([24, 4, 3, 3]);
  assert.throws(() => pointwiseConv(x, w3, 3), /pointwiseConv: w must be \[24, 4, 1, 1\], got \[24, 4, 3, 3\]/);
  assert.throws(() => pointwiseConv(x, Tensor.zeros([24, 4, 1, 1]), 5), /pointwiseConv: Cin=12 is not divisible by G=5/);
  assert.throws(() => pointwiseConv(x, Tensor.zeros([10, 4, 1, 1]), 3), /pointwiseConv: Cout=10 is not divisible by G=3/);
  assert.throws(() => pointwiseConv(Tensor.zeros([12, 3, 3]), w, 3), /pointwiseConv: x must be rank 4, got \[12, 3, 3\]/);
  assert.throws(() => pointwiseConv(x, Tensor.zeros([24, 4, 1, 1], 'f16'), 3), /pointwiseConv: w must be f32, got f16/);
  x.dispose(); w.dispose(); w3.dispose();
});

test.run();
