import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward } from '../../engine/index.ts';
import { avgPool2d, avgPoolForward, avgPoolBackward } from '../../kernels/avg_pool.ts';
import { poolGeometry, forwardPlan, backwardPlan, poolPlanCandidates, planKey, type Plan, type PoolGeometry } from '../../kernels/pool2d.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, KeptOutputs } from '../util/gpu.ts';
import { expectClose, dot, TOL, TOL_ROUND } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { avgPoolRef, avgPoolBackwardRef, poolOutShape, type Shape4 } from '../ref/pool.ts';
import { expectWindowedSame } from '../util/windows.ts';

// Odd and tiny inputs hit every 'same' case: odd sizes pad 1 before and 1 after, even sizes 0 and 1,
// 1x1 pads 1/1 and 2x2 0/1 (so windows count 1, 2, 4, 6 or 9 real pixels). Odd W takes the flat plans,
// even W the strip plans, with strips of 1..28 and loads of 1..8 elements, and
// two-row strips where rows are short (an odd number of rows leaves the last strip one row).
const SHAPES: Shape4[] = [[2, 3, 7, 9], [3, 2, 5, 5], [2, 3, 1, 1], [2, 2, 2, 2], [2, 3, 3, 3], [2, 5, 4, 6], [2, 4, 16, 12],
  [2, 3, 5, 16], [2, 2, 6, 28], [2, 2, 7, 14], [1, 2, 3, 32], [2, 2, 4, 8], [1, 1, 5, 14], [3, 1, 1, 2]];
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
// f32 sums of at most 9 terms; f16 sums in f32 rounded once to half (rel-L2 <= 2^-11): TOL_ROUND. Through
// autograd too: sum's dy = 1 and mul's r·1 are exact in halves, so x.grad is the raw kernel's dx.

for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of SHAPES) {
    const n = size(shape), out = poolOutShape(shape);
    test(`avgPool2d ${dtype} [${shape}] forward and backward`, async () => {
      const rng = new Rng(n);
      const x = quantize(rng.normals(n), dtype);
      const X = upload(x, shape, dtype);
      expectClose(await download(avgPool2d(X)), avgPoolRef(x, shape), TOL_ROUND[dtype], 'y');

      const r = quantize(rng.uniforms(size(out)), dtype);
      const want = avgPoolBackwardRef(r, shape);
      if (n <= 2000) gradcheck((v) => dot(r, avgPoolRef(v, shape)), Float64Array.from(x), want, 'ref dx'); // O(n²)
      const R = upload(r, out, dtype);
      expectClose(await download(avgPoolBackward(R, shape)), want, TOL_ROUND[dtype], 'raw dx');
      const Xg = upload(x, shape, dtype, { requiresGrad: true });
      backward(sum(mul(avgPool2d(Xg), R)));
      expectClose(await Xg.grad!.read(), want, TOL_ROUND[dtype], 'gpu dx');
      X.dispose(); Xg.dispose(); R.dispose();
    });
  }
}

// The tuner may pick any candidate plan (kernels/pool2d.ts), so each must give the default's bits:
// forward sums each window in row-major order whatever the plan, backward each pixel's windows in one order.
for (const dtype of DTYPES_UNDER_TEST) {
  test(`avgPool2d ${dtype}: every plan the tuner may pick gives the default plan's bits`, async () => {
    let compared = 0;
    for (const shape of SHAPES) {
      const g = poolGeometry(shape), n = size(shape), out = poolOutShape(shape);
      const X = upload(quantize(new Rng(n + 5).normals(n), dtype), shape, dtype);
      const D = upload(quantize(new Rng(n + 6).normals(size(out)), dtype), out, dtype);
      const kept = new KeptOutputs();
      const check = async (kind: 'forward' | 'backward', run: (p: Plan) => Tensor) => {
        const [def, ...rest] = poolPlanCandidates(kind, g, dtype, false);
        const want = await kept.read(run(def));
        for (const p of rest) { assert.equal(await kept.read(run(p)), want, `[${shape}] ${kind}, ${planKey(p)} against ${planKey(def)}`); compared++; }
      };
      await check('forward', (p) => avgPoolForward(X, {}, p));
      await check('backward', (p) => avgPoolBackward(D, shape, {}, p));
      kept.dispose(); X.dispose(); D.dispose();
    }
    assert.ok(compared > 30, `${compared} plans compared`);
  });
}

test('avgPool2d: the shapes above exercise every plan', () => {
  for (const dtype of DTYPES_UNDER_TEST) {
    const kinds = (plan: (g: PoolGeometry) => Plan) => new Set(SHAPES.map((s) => { const p = plan(poolGeometry(s)); return p.mode === 'flat' ? 'flat' : `strip R=${p.R}`; }));
    assert.equal([...kinds((g) => forwardPlan(g, dtype, false))].sort(), ['flat', 'strip R=1', 'strip R=2'], `${dtype} forward`);
    assert.equal([...kinds((g) => backwardPlan(g, dtype, false))].sort(), ['flat', 'strip R=1'], `${dtype} backward`);
  }
});

test('avgPool2d: padding is excluded from the count', async () => {
  // all ones: every window averages to exactly 1 whatever its count; with padding counted the
  // border windows would give 4/9, 6/9 ...
  const shape: Shape4 = [2, 3, 5, 6];
  for (const dtype of DTYPES_UNDER_TEST) {
    const y = await download(avgPool2d(upload(new Float64Array(size(shape)).fill(1), shape, dtype)));
    expectClose(y, new Float64Array(size(poolOutShape(shape))).fill(1), 0, `${dtype} y`);
  }
});

test('avgPool2d: kernel and stride options', async () => {
  const shape: Shape4 = [2, 3, 7, 8], n = size(shape);
  const x = quantize(new Rng(5).normals(n), 'f32');
  for (const [k, s] of [[2, 2], [3, 1], [5, 3], [3, 3]]) {
    const out = poolOutShape(shape, k, s);
    const r = quantize(new Rng(k * s).uniforms(size(out)), 'f32');
    expectClose(await download(avgPoolForward(upload(x, shape), { kernel: k, stride: s })), avgPoolRef(x, shape, k, s), TOL.f32, `k${k}s${s} y`);
    expectClose(await download(avgPoolBackward(upload(r, out), shape, { kernel: k, stride: s })), avgPoolBackwardRef(r, shape, k, s), TOL.f32, `k${k}s${s} dx`);
  }
});

test('avgPool2d: bad arguments name the op and the shapes', () => {
  const x3 = Tensor.zeros([2, 3, 4]), x = Tensor.zeros([1, 1, 4, 4]);
  assert.throws(() => avgPool2d(x3), /avgPool2d: x must be rank 4, got \[2, 3, 4\]/);
  assert.throws(() => avgPool2d(x, { kernel: 17 }), /avgPool2d: kernel must be an integer in \[1, 16\], got 17/);
  x3.dispose(); x.dispose();
});

// Binding windows: under a lowered limit the batch runs a few images per dispatch. Catches a window's
// image count or grid taken from the whole batch, and a window bound at the wrong image. Per-image
// bytes of x and y are multiples of the 256-byte offset alignment, or allow windows of 2 or 4 images;
// odd 7x7 takes the flat plans, 5x16 and 4x6 the strips (two-row strips with odd Wo = 3 among them).
const WINDOWED: [Shape4, number][] = [[[8, 32, 7, 7], 2], [[8, 32, 5, 16], 4], [[8, 64, 4, 6], 4]];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [shape, parts] of WINDOWED) {
    test(`avgPool2d ${dtype} [${shape}] in binding windows: y and dx equal the whole batch's bit for bit`, async () => {
      const n = size(shape), out = poolOutShape(shape), rng = new Rng(n);
      const X = upload(quantize(rng.normals(n), dtype), shape, dtype), R = upload(quantize(rng.uniforms(size(out)), dtype), out, dtype);
      await expectWindowedSame('avgPool2d', {
        limit: X.byteLength / parts, // windows of N / parts images (f16 [8, 32, 7, 7]: 4, the alignment's least)
        run: () => [avgPoolForward(X), avgPoolBackward(R, shape)],
      });
      X.dispose(); R.dispose();
    });
  }
}

test.run();
