import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, noGrad } from '../../engine/index.ts';
import { maxPool2d, maxPoolForward, maxPoolBackward } from '../../kernels/max_pool.ts';
import { poolGeometry, forwardPlan, backwardPlan, poolPlanCandidates, planKey, type Plan, type PoolGeometry } from '../../kernels/pool2d.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, KeptOutputs } from '../util/gpu.ts';
import { expectClose, dot, TOL, TOL_ROUND } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { maxPoolRef, maxPoolBackwardRef, poolOutShape, type Shape4 } from '../ref/pool.ts';
import { expectWindowedSame } from '../util/windows.ts';

// Odd and tiny inputs hit every 'same' case: odd sizes pad 1 before and 1 after, even sizes 0 and 1,
// 1x1 pads 1/1 and 2x2 0/1. Odd W takes the flat plans (where Wo odd makes one invocation's outputs
// span rows and channels); even W the strip plans, with strips of 1..28 and loads of 1..8 elements, and
// two-row strips where rows are short (an odd number of rows leaves the last strip one row).
const SHAPES: Shape4[] = [[2, 3, 7, 9], [3, 2, 5, 5], [2, 3, 1, 1], [2, 2, 2, 2], [2, 3, 3, 3], [2, 5, 4, 6], [2, 4, 16, 12],
  [2, 3, 5, 16], [2, 2, 6, 28], [2, 2, 7, 14], [1, 2, 3, 32], [2, 2, 4, 8], [1, 1, 5, 14], [3, 1, 1, 2]];
// A single rounding to half: rel-L2 <= 2^-11 (TOL_ROUND). Through autograd too: sum's dy = 1 and mul's
// r·1 are exact in halves, so x.grad is the raw kernel's dx.
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Distinct values (no ties, so finite differences work), exact in f16 and f32: a permutation of k/64. */
function distinct(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const v = Float64Array.from({ length: n }, (_, i) => (i - n / 2) / 64);
  return rng.shuffle(v);
}

for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of SHAPES) {
    const n = size(shape), out = poolOutShape(shape);
    test(`maxPool2d ${dtype} [${shape}] forward`, async () => {
      const x = quantize(new Rng(n).normals(n), dtype);
      const y = await download(maxPool2d(upload(x, shape, dtype)));
      expectClose(y, maxPoolRef(x, shape).y, 0, 'y'); // a selection is exact
    });

    test(`maxPool2d ${dtype} [${shape}] backward`, async () => {
      const x = distinct(n, n + 1);
      const r = quantize(new Rng(n + 2).uniforms(size(out)), dtype);
      gradcheck((v) => dot(r, maxPoolRef(v, shape).y), Float64Array.from(x), maxPoolBackwardRef(x, shape, r), 'ref dx');
      const want = maxPoolBackwardRef(x, shape, r);
      // the raw kernels: dx sums at most 4 dy values, rounded once for f16
      const X = upload(x, shape, dtype);
      const { y, arg } = maxPoolForward(X, {}, true);
      expectClose(await download(y), maxPoolRef(x, shape).y, 0, 'y with arg');
      const R = upload(r, out, dtype);
      expectClose(await download(maxPoolBackward(R, arg!, shape)), want, TOL_ROUND[dtype], 'raw dx');
      arg!.dispose();
      // through autograd: L = Σ r ⊙ maxPool2d(x)
      const Xg = upload(x, shape, dtype, { requiresGrad: true });
      backward(sum(mul(maxPool2d(Xg), R)));
      expectClose(await Xg.grad!.read(), want, TOL_ROUND[dtype], 'gpu dx');
      X.dispose(); Xg.dispose(); R.dispose();
    });
  }
}

// The tuner may pick any candidate plan (kernels/pool2d.ts), so each must give the default's bits: y
// and arg forward (with and without arg), dx backward (a pixel the argmax of several windows sums them).
for (const dtype of DTYPES_UNDER_TEST) {
  test(`maxPool2d ${dtype}: every plan the tuner may pick gives the default plan's bits`, async () => {
    let compared = 0;
    for (const shape of SHAPES) {
      const g = poolGeometry(shape), n = size(shape), out = poolOutShape(shape);
      const X = upload(quantize(new Rng(n + 5).normals(n), dtype), shape, dtype);
      const R = upload(quantize(new Rng(n + 6).uniforms(size(out)), dtype), out, dtype);
      const kept = new KeptOutputs();
      for (const withArg of [true, false]) {
        const [def, ...rest] = poolPlanCandidates('forward', g, dtype, withArg);
        const want = maxPoolForward(X, {}, withArg, def);
        const wy = await kept.read(want.y), wa = want.arg ? await kept.read(want.arg) : null;
        for (const p of rest) {
          const got = maxPoolForward(X, {}, withArg, p);
          assert.equal(await kept.read(got.y), wy, `[${shape}] y, ${planKey(p)} against ${planKey(def)}`);
          if (wa) assert.equal(await kept.read(got.arg!), wa, `[${shape}] arg, ${planKey(p)}`);
          compared++;
        }
      }
      const { arg } = maxPoolForward(X, {}, true);
      const [def, ...rest] = poolPlanCandidates('backward', g, dtype, true);
      const want = await kept.read(maxPoolBackward(R, arg!, shape, {}, def));
      for (const p of rest) { assert.equal(await kept.read(maxPoolBackward(R, arg!, shape, {}, p)), want, `[${shape}] dx, ${planKey(p)} against ${planKey(def)}`); compared++; }
      kept.dispose(); arg!.dispose(); X.dispose(); R.dispose();
    }
    assert.ok(compared > 30, `${compared} plans compared`);
  });
}

test('maxPool2d: the shapes above exercise every plan', () => {
  for (const dtype of DTYPES_UNDER_TEST) {
    const kinds = (plan: (g: PoolGeometry) => Plan) => new Set(SHAPES.map((s) => { const p = plan(poolGeometry(s)); return p.mode === 'flat' ? 'flat' : `strip R=${p.R}`; }));
    assert.equal([...kinds((g) => forwardPlan(g, dtype, true))].sort(), ['flat', 'strip R=1', 'strip R=2'], `${dtype} forward`);
    assert.equal([...kinds((g) => backwardPlan(g, dtype, true))].sort(), ['flat', 'strip R=1'], `${dtype} backward`);
  }
});

test('maxPool2d: padding never wins, ties go to the first pixel in scan order', async () => {
  const shape: Shape4 = [2, 3, 5, 6], n = size(shape), out = poolOutShape(shape);
  for (const dtype of DTYPES_UNDER_TEST) {
    const neg = quantize(new Rng(3).uniforms(n, -3, -1), dtype);
    expectClose(await download(maxPool2d(upload(neg, shape, dtype))), maxPoolRef(neg, shape).y, 0, `${dtype} all-negative y`);
    const flat = new Float64Array(n).fill(-0.5); // every window is one big tie
    const r = quantize(new Rng(4).uniforms(size(out)), dtype);
    const X = upload(flat, shape, dtype, { requiresGrad: true }), R = upload(r, out, dtype);
    backward(sum(mul(maxPool2d(X), R)));
    const want = maxPoolBackwardRef(flat, shape, r);
    assert.ok(want.filter((v) => v !== 0).length < n, 'fixture: ties leave pixels without gradient');
    expectClose(await X.grad!.read(), want, TOL_ROUND[dtype], `${dtype} tie dx`);
    X.dispose(); R.dispose();
  }
});

test('maxPool2d: kernel and stride options', async () => {
  const shape: Shape4 = [2, 3, 7, 8], n = size(shape);
  const x = distinct(n, 7);
  for (const [k, s] of [[2, 2], [3, 1], [5, 3], [3, 3]]) {
    const out = poolOutShape(shape, k, s);
    const r = quantize(new Rng(k * s).uniforms(size(out)), 'f32');
    const { y, arg } = maxPoolForward(upload(x, shape), { kernel: k, stride: s }, true);
    expectClose(await download(y), maxPoolRef(x, shape, k, s).y, 0, `k${k}s${s} y`);
    const dx = maxPoolBackward(upload(r, out), arg!, shape, { kernel: k, stride: s });
    expectClose(await download(dx), maxPoolBackwardRef(x, shape, r, k, s), TOL.f32, `k${k}s${s} dx`);
    arg!.dispose();
  }
});

test('maxPool2d: no-grad forward records nothing', () => {
  const x = Tensor.zeros([1, 2, 4, 4], 'f32', { requiresGrad: true });
  const y = noGrad(() => maxPool2d(x));
  assert.is(y.requiresGrad, false);
  assert.equal(y.shape, [1, 2, 2, 2]);
  y.dispose(); x.dispose();
});

test('maxPool2d: bad arguments name the op and the shapes', () => {
  const x3 = Tensor.zeros([2, 3, 4]), x = Tensor.zeros([1, 1, 4, 4]);
  assert.throws(() => maxPool2d(x3), /maxPool2d: x must be rank 4, got \[2, 3, 4\]/);
  assert.throws(() => maxPool2d(x, { kernel: 0 }), /maxPool2d: kernel must be an integer/);
  assert.throws(() => maxPool2d(x, { kernel: 3, stride: 4 }), /maxPool2d: stride must be an integer in \[1, kernel=3\], got 4/);
  x3.dispose(); x.dispose();
});

// Binding windows: under a lowered limit the batch runs a few images per dispatch. Catches a window's
// image count or grid taken from the whole batch, a window bound at the wrong image, and an arg read
// from another window than its dy. Per-image bytes of x, y and arg are multiples of the 256-byte offset
// alignment, or allow windows of 2 or 4 images; odd 7x7 takes the flat plans, 5x16 and 4x6 the strips
// (two-row strips with odd Wo = 3 among them).
const WINDOWED: [Shape4, number][] = [[[8, 32, 7, 7], 2], [[8, 32, 5, 16], 4], [[8, 64, 4, 6], 4]];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [shape, parts] of WINDOWED) {
    test(`maxPool2d ${dtype} [${shape}] in binding windows: y, arg and dx equal the whole batch's bit for bit`, async () => {
      const n = size(shape), out = poolOutShape(shape);
      const X = upload(distinct(n, n), shape, dtype), R = upload(quantize(new Rng(n).uniforms(size(out)), dtype), out, dtype);
      await expectWindowedSame('maxPool2d', {
        limit: X.byteLength / parts, // windows of N / parts images (f16 [8, 32, 7, 7]: 4, the alignment's least)
        run: () => {
          const { y, arg } = maxPoolForward(X, {}, true);
          return [y, arg!, maxPoolBackward(R, arg!, shape)];
        },
      });
      X.dispose(); R.dispose();
    });
  }
}

test.run();
