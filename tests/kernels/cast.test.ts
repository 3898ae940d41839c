import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, roundToHalf, type DType } from '../../engine/index.ts';
import { cast, castForward } from '../../kernels/cast.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize } from '../util/gpu.ts';
import { expectClose } from '../util/check.ts';
import { expectWindowedSame } from '../util/windows.ts';

const SIZES = [1, 2, 7, 37, 3 * 5 * 7];
// values around f16's limits: max 65504, smallest normal 2^-14, subnormals, ties
const EDGES = [0, -0, 1, -1, 65504, -65504, 2 ** -14, 2 ** -24, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, 1 / 3];

test('cast f32 -> f16 rounds to nearest even (the host rounding), exactly, on odd sizes', async () => {
  for (const n of SIZES) {
    const x = quantize(new Rng(n).normals(n, 100), 'f32');
    expectClose(await download(cast(upload(x, [n]), 'f16')), roundToHalf(x), 0, `n=${n}`);
  }
  expectClose(await download(cast(upload(EDGES, [EDGES.length]), 'f16')), roundToHalf(EDGES), 0, 'edges');
});

test('cast f16 -> f32 is exact; the f32 -> f16 -> f32 round trip equals rounding to half', async () => {
  for (const n of SIZES) {
    const x = quantize(new Rng(n + 1).normals(n, 10), 'f32');
    const h = quantize(x, 'f16');
    expectClose(await download(cast(upload(h, [n], 'f16'), 'f32')), h, 0, `f16->f32 n=${n}`);
    const X = upload(x, [n, 1]);
    const y = cast(X, 'f16'), z = cast(y, 'f32');
    assert.equal(z.shape, [n, 1]);
    assert.is(z.dtype, 'f32');
    expectClose(await download(z), roundToHalf(x), 0, `round trip n=${n}`);
    X.dispose(); y.dispose();
  }
});

test('cast to the same dtype is a copy', async () => {
  for (const dtype of ['f32', 'f16'] as DType[]) {
    const x = quantize([1, 2, 3, 4.5, -6], dtype), X = upload(x, [5], dtype);
    const y = cast(X, dtype);
    assert.ok(y.buffer !== X.buffer, 'a new buffer');
    expectClose(await download(y), x, 0, dtype);
    X.dispose();
  }
});

test('cast backward casts dy back to x\'s dtype', async () => {
  const n = 37, rng = new Rng(5);
  const x = quantize(rng.normals(n), 'f32'), r = quantize(rng.normals(n), 'f16');
  const X = upload(x, [n], 'f32', { requiresGrad: true });
  backward(sum(mul(cast(X, 'f16'), upload(r, [n], 'f16'))));
  assert.is(X.grad!.dtype, 'f32');
  expectClose(await X.grad!.read(), r, 0, 'f32 <- f16');
  const r32 = quantize(rng.normals(n), 'f32');
  const H = upload(roundToHalf(x), [n], 'f16', { requiresGrad: true });
  backward(sum(mul(cast(H, 'f32'), upload(r32, [n]))));
  assert.is(H.grad!.dtype, 'f16');
  expectClose(await H.grad!.read(), roundToHalf(r32), 0, 'f16 <- f32');
  X.dispose(); H.dispose();
});

test('f16 overflow: values past 65504 become Inf', async () => {
  const x = [1, 70000, -1e6, 65519, 65520, 3, NaN, Infinity, -65520];
  const h = await download(cast(upload(x, [x.length]), 'f16'));
  assert.equal(Array.from(h), [1, Infinity, -Infinity, 65504, Infinity, 3, NaN, Infinity, -Infinity], 'overflow to ±Inf (65520 rounds up), NaN stays');
  assert.equal(Array.from(roundToHalf(x)), Array.from(h), 'as the host rounds');
});

test('castForward keeps the shape; a bad dtype names the op', () => {
  const x = Tensor.zeros([2, 3, 5]);
  const y = castForward(x, 'f16');
  assert.equal(y.shape, [2, 3, 5]);
  assert.throws(() => cast(x, 'f64' as DType), /cast: dtype must be f32 or f16, got f64/);
  x.dispose(); y.dispose();
});

// Binding windows: a tensor over a lowered limit is cast in windows of elements (starts on multiples of
// 128, the offset alignment in halves). Catches a window's element count or grid taken from the whole
// tensor, and a last window's odd tail (3219 elements: windows of 1024, the last 147) zeroed or lost.
test('cast in binding windows: f32 -> f16, f16 -> f32 and a copy equal the whole tensor\'s bit for bit', async () => {
  const shape = [3, 37, 29], n = 3 * 37 * 29;
  const x = quantize(new Rng(n).normals(n, 100), 'f32');
  const X = upload(x, shape), H = upload(x, shape, 'f16');
  await expectWindowedSame('cast', { limit: 4096, run: () => [castForward(X, 'f16'), castForward(H, 'f32'), castForward(X, 'f32'), castForward(H, 'f16')] });
  X.dispose(); H.dispose();
});

test.run();
