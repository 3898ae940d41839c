import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, noGrad, type DType } from '../../engine/index.ts';
import { add, mul, scale, relu, addRelu } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, TOL } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { addRef, mulRef, scaleRef, reluRef, addReluRef, reluBackwardRef } from '../ref/elementwise.ts';

const SHAPES = [[1], [7], [3, 5, 7], [2, 3, 17, 9]];

// L = Σ r ⊙ f(a, b): dL/da = r ⊙ ∂f/∂a. The float64 ref's derivative is checked by finite differences,
// the GPU's backward against the ref. Inputs are kept away from ReLU's kink.
for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of SHAPES) {
    const n = shape.reduce((p, q) => p * q, 1);
    test(`add/mul/scale/relu/addRelu ${dtype} [${shape}] forward`, async () => {
      const rng = new Rng(n);
      const a = quantize(rng.uniforms(n, -2, 2), dtype), b = quantize(rng.uniforms(n, -2, 2), dtype);
      const A = upload(a, shape, dtype), B = upload(b, shape, dtype);
      const tol = TOL[dtype];
      expectClose(await download(add(A, B)), addRef(a, b), tol, 'add');
      expectClose(await download(mul(A, B)), mulRef(a, b), tol, 'mul');
      expectClose(await download(scale(A, -0.37)), scaleRef(a, -0.37), tol, 'scale');
      expectClose(await download(relu(A)), reluRef(a), tol, 'relu');
      expectClose(await download(addRelu(A, B)), addReluRef(a, b), tol, 'addRelu');
      A.dispose(); B.dispose();
    });

    test(`add/mul/scale/relu/addRelu ${dtype} [${shape}] backward`, async () => {
      const rng = new Rng(n + 1);
      const away = (v: number) => (Math.abs(v) < 0.05 ? v + 0.1 : v);
      const a = quantize(rng.uniforms(n, -2, 2).map(away), dtype);
      const b = quantize(rng.uniforms(n, -2, 2), dtype);
      const r = quantize(rng.uniforms(n, -1, 1), dtype);
      const cases: [string, (A: Tensor, B: Tensor) => Tensor, (a: Float64Array, b: Float64Array) => Float64Array, Float64Array, Float64Array][] = [
        ['add', add, addRef, r, r],
        ['mul', mul, mulRef, mulRef(r, b), mulRef(r, a)],
        ['scale', (A) => scale(A, 1.5), (x) => scaleRef(x, 1.5), scaleRef(r, 1.5), new Float64Array(n)],
        ['relu', (A) => relu(A), (x) => reluRef(x), reluBackwardRef(a, r), new Float64Array(n)],
      ];
      for (const [name, op, ref, da, db] of cases) {
        const L = (x: Float64Array) => { const y = ref(x, b); let s = 0; for (let i = 0; i < n; i++) s += r[i] * y[i]; return s; };
        gradcheck(L, Float64Array.from(a), da, `${name} ref da`, 1e-6);
        const A = upload(a, shape, dtype, { requiresGrad: true }), B = upload(b, shape, dtype, { requiresGrad: true }), R = upload(r, shape, dtype);
        backward(sum(mul(op(A, B), R)));
        const tol = dtype === 'f32' ? TOL.f32 : 1e-2; // f16: the chain rounds dy and dx to halves
        expectClose(await A.grad!.read(), da, tol, `${name} gpu da`);
        if (name === 'add' || name === 'mul') expectClose(await B.grad!.read(), db, tol, `${name} gpu db`);
        else assert.ok(B.grad === null, `${name}: unused input gets no grad`);
        A.dispose(); B.dispose(); R.dispose();
      }
    });
  }
}

test('addRelu backward routes dy to both inputs where the sum is positive', async () => {
  const n = 37, rng = new Rng(5);
  const a = quantize(rng.uniforms(n, -2, 2), 'f32'), b = quantize(rng.uniforms(n, -2, 2), 'f32'), r = quantize(rng.uniforms(n), 'f32');
  const s = addRef(a, b);
  if (s.some((v) => Math.abs(v) < 1e-3)) throw new Error('fixture lands on the kink');
  const A = upload(a, [n], 'f32', { requiresGrad: true }), B = upload(b, [n], 'f32', { requiresGrad: true });
  backward(sum(mul(addRelu(A, B), upload(r, [n]))));
  const want = reluBackwardRef(s, r);
  expectClose(await A.grad!.read(), want, TOL.f32, 'da');
  expectClose(await B.grad!.read(), want, TOL.f32, 'db');
});

test('shape mismatch names the op and both shapes', () => {
  const a = Tensor.zeros([2, 3]), b = Tensor.zeros([3, 2]);
  assert.throws(() => add(a, b), /add: a and b must have the same shape, got a \[2, 3\] and b \[3, 2\]/);
  assert.throws(() => mul(a, b), /mul: .*\[2, 3\].*\[3, 2\]/);
  a.dispose(); b.dispose();
});

test('dtype mismatch is rejected', () => {
  const a = Tensor.zeros([4]), b = Tensor.zeros([4], 'f16' as DType);
  assert.throws(() => add(a, b), /add: a and b must have the same dtype, got f32 and f16/);
  a.dispose(); b.dispose();
});

test('no-grad mode records nothing', () => {
  const a = Tensor.zeros([4], 'f32', { requiresGrad: true });
  const y = noGrad(() => relu(a));
  assert.is(y.requiresGrad, false);
  y.dispose(); a.dispose();
});

test.run();
