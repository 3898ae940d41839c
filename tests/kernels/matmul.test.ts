import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, type DType } from '../../engine/index.ts';
import { matmul, matmulForward, linear, TILES } from '../../kernels/matmul.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, dot, TOL } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { matmulRef, matmulBackwardRef, linearRef, linearBackwardRef, type MatmulDims, type MatmulFlags } from '../ref/matmul.ts';

// f16: inputs are halves, accumulation f32, the output rounded once (~2^-11 relative); gradients pass
// through an f16 dy and, for dx, another rounding.
const FWD = { f32: TOL.f32, f16: TOL.f16 } as const;
const BWD = { f32: TOL.f32, f16: 1e-2 } as const;
const FLAGS: MatmulFlags[] = [{}, { transA: true }, { transB: true }, { transA: true, transB: true }];
const flagName = (f: MatmulFlags) => `${f.transA ? 'tA' : ''}${f.transB ? 'tB' : ''}` || 'nn';
const storedA = (d: MatmulDims, f: MatmulFlags) => [...(d.B > 1 ? [d.B] : []), ...(f.transA ? [d.K, d.M] : [d.M, d.K])];
const storedB = (d: MatmulDims, f: MatmulFlags) => [...(d.B > 1 ? [d.B] : []), ...(f.transB ? [d.N, d.K] : [d.K, d.N])];
const outShape = (d: MatmulDims) => [...(d.B > 1 ? [d.B] : []), d.M, d.N];

test('ref: matmul gradients match finite differences, every transposition', () => {
  const d: MatmulDims = { B: 2, M: 3, K: 4, N: 5 };
  for (const f of FLAGS) {
    const rng = new Rng(7);
    const a = rng.normals(d.B * d.M * d.K), b = rng.normals(d.B * d.K * d.N), r = rng.normals(d.B * d.M * d.N);
    const { da, db } = matmulBackwardRef(a, b, r, d, f);
    gradcheck((v) => dot(r, matmulRef(v, b, d, f)), a, da, `${flagName(f)} da`);
    gradcheck((v) => dot(r, matmulRef(a, v, d, f)), b, db, `${flagName(f)} db`);
  }
});

test('ref: linear gradients match finite differences', () => {
  const [N, IN, OUT] = [3, 5, 4], rng = new Rng(8);
  const x = rng.normals(N * IN), w = rng.normals(OUT * IN), b = rng.normals(OUT), r = rng.normals(N * OUT);
  const g = linearBackwardRef(x, w, r, N, IN, OUT);
  gradcheck((v) => dot(r, linearRef(v, w, b, N, IN, OUT)), x, g.dx, 'dx');
  gradcheck((v) => dot(r, linearRef(x, v, b, N, IN, OUT)), w, g.dw, 'dw');
  gradcheck((v) => dot(r, linearRef(x, w, v, N, IN, OUT)), b, g.db, 'db');
});

// every register tile on sizes that leave partial tiles in both directions
const RAW_DIMS: MatmulDims[] = [{ B: 1, M: 1, K: 1, N: 1 }, { B: 1, M: 7, K: 5, N: 3 }, { B: 3, M: 7, K: 5, N: 3 }, { B: 2, M: 37, K: 11, N: 34 }, { B: 1, M: 17, K: 3, N: 20 }];
for (const tile of TILES) {
  for (const dtype of DTYPES_UNDER_TEST) {
    test(`matmulForward tile ${tile.TM}x${tile.TN} ${dtype}: every transposition, odd sizes, batches, bias`, async () => {
      for (const d of RAW_DIMS) {
        for (const f of FLAGS) {
          const rng = new Rng(d.M * 100 + d.N);
          const a = quantize(rng.uniforms(d.B * d.M * d.K), dtype), b = quantize(rng.uniforms(d.B * d.K * d.N), dtype);
          const bias = quantize(rng.uniforms(d.N), 'f32');
          const A = upload(a, storedA(d, f), dtype), B = upload(b, storedB(d, f), dtype), Bias = upload(bias, [d.N]);
          const what = `${flagName(f)} ${JSON.stringify(d)}`;
          const c = matmulForward(A, B, { ...f, tile });
          assert.equal(c.shape, outShape(d), `${what} shape`);
          assert.is(c.dtype, dtype);
          expectClose(await download(c), matmulRef(a, b, d, f), FWD[dtype], what);
          // the bias pipelines: every tile in f32, the small tile in f16 (8x8 f16 pipelines are the slowest to compile)
          if (dtype === 'f32' || tile.TM === 4) {
            expectClose(await download(matmulForward(A, B, { ...f, tile, bias: Bias })), matmulRef(a, b, d, f, bias), FWD[dtype], `${what} + bias`);
          }
          A.dispose(); B.dispose(); Bias.dispose();
        }
      }
    });
  }
}

test('matmulForward: f16 operands into an f32 result, and an f32 x f16 mix', async () => {
  const d: MatmulDims = { B: 1, M: 9, K: 13, N: 6 }, rng = new Rng(3);
  const a = quantize(rng.uniforms(d.M * d.K), 'f16'), b = quantize(rng.uniforms(d.K * d.N), 'f16');
  const A = upload(a, [d.M, d.K], 'f16'), B = upload(b, [d.K, d.N], 'f16'), B32 = upload(b, [d.K, d.N], 'f32');
  expectClose(await download(matmulForward(A, B, { dtype: 'f32' })), matmulRef(a, b, d), TOL.f32, 'f16 x f16 -> f32');
  expectClose(await download(matmulForward(A, B32, { dtype: 'f16' })), matmulRef(a, b, d), TOL.f16, 'f16 x f32 -> f16');
  A.dispose(); B.dispose(); B32.dispose();
});

// L = Σ r ⊙ op(...): the GPU gradients against the float64 ones
async function gradsOf(y: Tensor, r: Float64Array, ...inputs: Tensor[]): Promise<Float32Array[]> {
  backward(sum(mul(y, upload(r, y.shape, y.dtype))));
  const out: Float32Array[] = [];
  for (const t of inputs) { assert.ok(t.grad, `${t} got a gradient`); out.push(await t.grad!.read()); }
  return out;
}

const OP_DIMS: MatmulDims[] = [{ B: 1, M: 1, K: 1, N: 1 }, { B: 1, M: 7, K: 5, N: 3 }, { B: 3, M: 7, K: 5, N: 3 }, { B: 2, M: 6, K: 9, N: 10 }];
for (const dtype of DTYPES_UNDER_TEST) {
  test(`matmul op ${dtype}: forward and both gradients, 2-D and batched, every transposition`, async () => {
    for (const d of OP_DIMS) {
      for (const f of FLAGS) {
        const rng = new Rng(d.B * 1000 + d.K);
        const a = quantize(rng.uniforms(d.B * d.M * d.K), dtype), b = quantize(rng.uniforms(d.B * d.K * d.N), dtype);
        const r = quantize(rng.uniforms(d.B * d.M * d.N), dtype);
        const A = upload(a, storedA(d, f), dtype, { requiresGrad: true }), B = upload(b, storedB(d, f), dtype, { requiresGrad: true });
        const what = `${flagName(f)} ${JSON.stringify(d)}`;
        const y = matmul(A, B, f);
        assert.equal(y.shape, outShape(d), `${what} shape`);
        expectClose(await y.read(), matmulRef(a, b, d, f), FWD[dtype], `${what} y`);
        const [da, db] = await gradsOf(y, r, A, B);
        const want = matmulBackwardRef(a, b, r, d, f);
        expectClose(da, want.da, BWD[dtype], `${what} da`);
        expectClose(db, want.db, BWD[dtype], `${what} db`);
        A.dispose(); B.dispose(); y.dispose();
      }
    }
  });

  test(`linear ${dtype}: forward, dx, dw, db (f32 weights), with and without bias`, async () => {
    for (const [N, IN, OUT] of [[1, 1, 1], [7, 5, 3], [3, 24, 10], [5, 33, 17]]) {
      for (const withBias of [true, false]) {
        const rng = new Rng(N * 31 + IN);
        const x = quantize(rng.uniforms(N * IN), dtype), w = quantize(rng.uniforms(OUT * IN), 'f32'), b = quantize(rng.uniforms(OUT), 'f32');
        const r = quantize(rng.uniforms(N * OUT), dtype);
        const X = upload(x, [N, IN], dtype, { requiresGrad: true }), W = upload(w, [OUT, IN], 'f32', { requiresGrad: true });
        const Bt = withBias ? upload(b, [OUT], 'f32', { requiresGrad: true }) : null;
        const what = `[${N}, ${IN}] -> ${OUT}${withBias ? ' + b' : ''}`;
        const y = linear(X, W, Bt);
        assert.equal(y.shape, [N, OUT]);
        assert.is(y.dtype, dtype, 'y has x\'s dtype');
        expectClose(await y.read(), linearRef(x, w, withBias ? b : null, N, IN, OUT), FWD[dtype], `${what} y`);
        const grads = await gradsOf(y, r, X, W, ...(Bt ? [Bt] : []));
        const want = linearBackwardRef(x, w, r, N, IN, OUT);
        assert.is(X.grad!.dtype, dtype, 'dx has x\'s dtype');
        assert.is(W.grad!.dtype, 'f32', 'dw is f32');
        expectClose(grads[0], want.dx, BWD[dtype], `${what} dx`);
        expectClose(grads[1], want.dw, BWD[dtype], `${what} dw`);
        if (Bt) expectClose(grads[2], want.db, BWD[dtype], `${what} db`);
        X.dispose(); W.dispose(); Bt?.dispose(); y.dispose();
      }
    }
  });
}

test('matmul: wrong shapes name the op and both shapes', () => {
  const z = (s: number[], dtype: DType = 'f32') => Tensor.zeros(s, dtype);
  const [a, b, c, d3, e3] = [z([2, 3]), z([4, 5]), z([3, 5]), z([2, 3, 4]), z([3, 4, 5])];
  assert.throws(() => matmul(a, b), /matmul: inner dimensions differ: a is \[2, 3\], b is \[4, 5\]/);
  assert.throws(() => matmul(a, c, { transA: true }), /matmul: inner dimensions differ: a is \[2, 3\], b is \[3, 5\] \(transA\)/);
  assert.throws(() => matmul(a, d3), /matmul: a and b must both be rank 2 or both rank 3: a is \[2, 3\], b is \[2, 3, 4\]/);
  assert.throws(() => matmul(d3, e3), /matmul: batch sizes differ: a is \[2, 3, 4\], b is \[3, 4, 5\]/);
  const h = z([3, 5], 'f16');
  assert.throws(() => matmul(a, h), /matmul: a and b must have the same dtype, got f32 and f16/);
  for (const t of [a, b, c, d3, e3, h]) t.dispose();
});

test('linear: wrong shapes and dtypes name the op and the shapes', () => {
  const x = Tensor.zeros([8, 1920]), w = Tensor.zeros([10, 1919]), w2 = Tensor.zeros([10, 1920]), b = Tensor.zeros([9]);
  const w16 = Tensor.zeros([10, 1920], 'f16');
  assert.throws(() => linear(x, w, null), /linear: w must be \[\*, 1920\], got \[10, 1919\], x is \[8, 1920\]/);
  assert.throws(() => linear(x, w2, b), /linear: b must be \[10\], got \[9\], w is \[10, 1920\]/);
  assert.throws(() => linear(x, w16, null), /linear: w must be f32, got f16/);
  for (const t of [x, w, w2, b, w16]) t.dispose();
});

test.run();
