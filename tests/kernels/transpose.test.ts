import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward } from '../../engine/index.ts';
import { transpose, permute, reshape } from '../../kernels/transpose.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose } from '../util/check.ts';
import { permuteRef, swapPerm } from '../ref/transpose.ts';

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
// odd sizes, rank 1 to 6; a permutation moves values exactly, so the bound is 0
const CASES: [number[], number, number][] = [
  [[7], 0, 0], [[3, 5], 0, 1], [[2, 3, 5], 0, 2], [[3, 5, 7], 1, 2], [[2, 3, 5, 7], 1, 3], [[3, 1, 5, 7], -1, -3],
  [[2, 3, 1, 5, 3], 0, 4], [[2, 1, 3, 2, 3, 5], 1, 5],
];

for (const dtype of DTYPES_UNDER_TEST) {
  test(`transpose ${dtype}: forward on odd shapes of rank 1-6, backward = the same transpose`, async () => {
    for (const [shape, d0, d1] of CASES) {
      const n = numel(shape), rng = new Rng(n);
      const x = quantize(rng.uniforms(n), dtype), r = quantize(rng.uniforms(n), dtype);
      const perm = swapPerm(shape.length, d0 < 0 ? d0 + shape.length : d0, d1 < 0 ? d1 + shape.length : d1);
      const X = upload(x, shape, dtype, { requiresGrad: true });
      const y = transpose(X, d0, d1);
      assert.equal(y.shape, perm.map((p) => shape[p]), `[${shape}] ${d0},${d1}: shape`);
      assert.is(y.dtype, dtype);
      expectClose(await y.read(), permuteRef(x, shape, perm), 0, `[${shape}] ${d0},${d1}: y`);
      backward(sum(mul(y, upload(r, y.shape, dtype))));
      // dL/dx = the transpose of r back to x's layout
      expectClose(await X.grad!.read(), permuteRef(r, y.shape, perm), 0, `[${shape}] ${d0},${d1}: dx`);
      X.dispose(); y.dispose();
    }
  });

  test(`permute ${dtype}: a general permutation and its inverse in backward`, async () => {
    const shape = [2, 3, 5, 7], perm = [2, 0, 3, 1], n = numel(shape), rng = new Rng(9);
    const x = quantize(rng.uniforms(n), dtype), r = quantize(rng.uniforms(n), dtype);
    const X = upload(x, shape, dtype, { requiresGrad: true });
    const y = permute(X, perm);
    assert.equal(y.shape, [5, 2, 7, 3]);
    expectClose(await y.read(), permuteRef(x, shape, perm), 0, 'y');
    backward(sum(mul(y, upload(r, y.shape, dtype))));
    const inv = [1, 3, 0, 2];
    expectClose(await X.grad!.read(), permuteRef(r, y.shape, inv), 0, 'dx');
    X.dispose(); y.dispose();
  });
}

test('reshape is a view: same storage, -1 resolved; backward hands dy back in x\'s shape', async () => {
  const x = quantize(new Rng(3).uniforms(60), 'f32'), r = quantize(new Rng(4).uniforms(60), 'f32');
  const X = upload(x, [3, 4, 5], 'f32', { requiresGrad: true });
  const y = reshape(X, [-1, 5]);
  assert.equal(y.shape, [12, 5]);
  assert.ok(y.buffer === X.buffer, 'no copy');
  const z = transpose(y, 0, 1);
  backward(sum(mul(z, upload(r, z.shape))));
  assert.equal(X.grad!.shape, [3, 4, 5]);
  expectClose(await X.grad!.read(), permuteRef(r, [5, 12], [1, 0]), 0, 'dx');
  X.dispose(); y.dispose(); z.dispose();
});

test('reshape without grad, and a zero-size reshape', async () => {
  const X = upload([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.equal(Array.from(await download(reshape(X, [3, 2]))), [1, 2, 3, 4, 5, 6]);
  const E = Tensor.empty([0, 4]);
  assert.equal(reshape(E, [4, -1]).shape, [4, 0]);
  X.dispose(); E.dispose();
});

test('bad arguments name the op and the shapes', () => {
  const x = Tensor.zeros([2, 3, 4]), x7 = Tensor.zeros([1, 1, 1, 1, 1, 1, 2]);
  assert.throws(() => transpose(x, 0, 3), /transpose: dim 3 out of range for x \[2, 3, 4\]/);
  assert.throws(() => transpose(x7, 0, 6), /transpose: x has rank 7, at most 6 is supported: x is \[1, 1, 1, 1, 1, 1, 2\]/);
  assert.throws(() => permute(x, [0, 0, 1]), /permute: perm \[0, 0, 1\] is not a permutation of the 3 axes of x \[2, 3, 4\]/);
  assert.throws(() => reshape(x, [5, 5]), /reshape: cannot reshape x \[2, 3, 4\] \(24 elements\) to \[5, 5\]/);
  assert.throws(() => reshape(x, [-1, -1]), /reshape: invalid shape \[-1, -1\] for x \[2, 3, 4\]/);
  x.dispose(); x7.dispose();
});

test.run();
