import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward } from '../../engine/index.ts';
import { globalAvgPool, globalAvgPoolForward, globalAvgPoolBackward } from '../../kernels/global_avg_pool.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, SUBGROUP_PATHS, sgName, withSubgroups, subgroupVariantTitle, expectSubgroupVariants } from '../util/gpu.ts';
import { expectClose, dot, TOL } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { globalAvgPoolRef, globalAvgPoolBackwardRef, type Shape4 } from '../ref/pool.ts';
import { expectWindowedSame } from '../util/windows.ts';

// 1x1 and 7x7 take one invocation per pair of outputs, 17x17 and 56x56 a workgroup per pair; odd N·C
// leaves a last pair with one channel, odd H·W a word straddling two channels. The workgroup mode runs
// in both its subgroup and plain variants where the device has subgroups.
const SHAPES: Shape4[] = [[2, 3, 1, 1], [3, 5, 7, 7], [1, 1, 2, 3], [4, 8, 4, 4], [2, 3, 17, 17], [2, 3, 56, 56]];
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
// f16: one rounding of the f32 mean to half (rel-L2 <= 2^-11)
const TOL_ROUND = { f32: TOL.f32, f16: 1e-3 } as const;

for (const sg of SUBGROUP_PATHS) for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of SHAPES) {
    const n = size(shape), NC = shape[0] * shape[1];
    test(`globalAvgPool ${dtype} [${shape}] forward and backward${sgName(sg)}`, () => withSubgroups(sg, async () => {
      const rng = new Rng(n);
      // offset mean: a sum that cancels to ~0 would make rel-L2 measure cancellation, not the kernel
      const x = quantize(rng.normals(n).map((v) => v + 1), dtype);
      const X = upload(x, shape, dtype);
      expectClose(await download(globalAvgPoolForward(X)), globalAvgPoolRef(x, shape), TOL_ROUND[dtype], 'y');

      const r = quantize(rng.uniforms(NC), dtype);
      const want = globalAvgPoolBackwardRef(r, shape);
      if (n <= 2000) gradcheck((v) => dot(r, globalAvgPoolRef(v, shape)), Float64Array.from(x), want, 'ref dx'); // O(n²)
      const R = upload(r, [shape[0], shape[1]], dtype);
      expectClose(await download(globalAvgPoolBackward(R, shape)), want, TOL_ROUND[dtype], 'raw dx');
      const Xg = upload(x, shape, dtype, { requiresGrad: true });
      backward(sum(mul(globalAvgPool(Xg), R)));
      expectClose(await Xg.grad!.read(), want, TOL_ROUND[dtype], 'gpu dx');
      X.dispose(); Xg.dispose(); R.dispose();
    }));
  }
}

test(subgroupVariantTitle('globalAvgPool workgroup mode'), async () => {
  const X = upload(new Rng(2).normals(2 * 3 * 17 * 17), [2, 3, 17, 17]);
  await expectSubgroupVariants('global_avg_pool/', 1, () => { globalAvgPoolForward(X); });
  X.dispose();
});

test('globalAvgPool: bad arguments name the op and the shapes', () => {
  const x = Tensor.zeros([2, 3, 4]);
  assert.throws(() => globalAvgPool(x), /globalAvgPool: x must be rank 4, got \[2, 3, 4\]/);
  x.dispose();
});

// Binding windows: under a lowered limit the batch runs a few images per dispatch, x and y windowed
// alike. Catches a window's pair count or grid taken from the whole batch, and y or dy bound at another
// window than x or dx. 64 channels make y's rows 256 bytes (f32) or windows of 2 images (f16); odd 7x7
// takes one invocation per pair (with a word straddling two channels), 17x17 a workgroup per pair.
const WINDOWED: Shape4[] = [[8, 64, 7, 7], [4, 64, 17, 17]];
for (const sg of SUBGROUP_PATHS) for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of WINDOWED) {
    test(`globalAvgPool ${dtype} [${shape}] in binding windows: y and dx equal the whole batch's bit for bit${sgName(sg)}`, () => withSubgroups(sg, async () => {
      const n = size(shape), rng = new Rng(n);
      const X = upload(quantize(rng.normals(n), dtype), shape, dtype), R = upload(quantize(rng.uniforms(shape[0] * shape[1]), dtype), [shape[0], shape[1]], dtype);
      await expectWindowedSame('globalAvgPool', {
        limit: X.byteLength / 2, // windows of half the batch
        run: () => [globalAvgPoolForward(X), globalAvgPoolBackward(R, shape)],
      });
      X.dispose(); R.dispose();
    }));
  }
}

test.run();
