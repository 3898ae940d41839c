// The reduction module: sum / mean forward (both kernel modes) and backward, and the column / row sums
// of the weight-gradient passes, against float64 references.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, capture, scope } from '../../engine/index.ts';
import { sum, mean, sumColumns, sumRows } from '../../kernels/reduce.ts';
import { mul } from '../../kernels/elementwise.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, SUBGROUP_PATHS, sgName, withSubgroups, subgroupVariantTitle, expectSubgroupVariants } from '../util/gpu.ts';
import { expectClose, TOL } from '../util/check.ts';
import { expectWindowedSame, withBindingLimit } from '../util/windows.ts';
import { sumRef } from '../ref/reduce.ts';

// Inputs are quantized to the dtype under test, so the reference sums the values the GPU holds, and
// every result is f32 accumulated in f32 whatever the input dtype: the only error is f32 rounding of
// the running sums, about sqrt(R)·2^-24 relative for these R <= 1000 (~2e-6), under TOL.f32 for both
// dtypes. mean's 1/R is an f32 (one more 2^-24).
const FWD = TOL.f32;

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
// [shape, axis]: R < 64 runs one invocation per output, R >= 64 one workgroup per output (R > 256:
// several strided terms per invocation before the tree); outer > 1 and inner > 1 cover batches
// before and after the axis; odd sizes leave partial workgroups and odd f16 ends. The workgroup mode
// runs in both its subgroup and plain variants where the device has subgroups.
const CASES: [number[], number | undefined][] = [
  [[1], undefined], [[7], undefined], [[63], undefined], [[64], undefined], [[3, 5, 7], undefined], [[1000], undefined],
  [[3, 70, 5], 0], [[3, 70, 5], 1], [[3, 70, 5], 2], [[2, 301, 3], 1], [[5, 9], 1], [[1, 1, 1], 1],
];

for (const sg of SUBGROUP_PATHS) for (const dtype of DTYPES_UNDER_TEST) {
  test(`sum and mean ${dtype}: forward over everything and along an axis, both modes, odd sizes, batches${sgName(sg)}`, () => withSubgroups(sg, async () => {
    for (const [shape, axis] of CASES) {
      const x = quantize(new Rng(numel(shape) + (axis ?? 9)).uniforms(numel(shape)), dtype);
      const X = upload(x, shape, dtype);
      const want = sumRef(x, shape, axis), R = axis === undefined ? numel(shape) : shape[axis];
      const what = `[${shape}] axis ${axis ?? 'all'}`;
      const s = sum(X, axis), m = mean(X, axis);
      const outShape = axis === undefined ? [1] : shape.filter((_, i) => i !== axis);
      assert.equal([...s.shape], outShape, `${what}: shape`);
      assert.is(s.dtype, 'f32', 'sums are f32');
      expectClose(await download(s), want, FWD, `${what}: sum`);
      expectClose(await download(m), want.map((v) => v / R), FWD, `${what}: mean`);
      X.dispose();
    }
  }));
}

// The values above come out the same in either mode, so the mode the op picks is checked apart:
// catches a threshold that sends long reductions to the thread mode (or short ones to workgroups).
test('sum and mean: one invocation per output for R < 64, one workgroup per output from R = 64', async () => {
  const cases: [number[], number | undefined, string][] = [
    [[63], undefined, 'thread'], [[64], undefined, 'workgroup'], [[1000], undefined, 'workgroup'],
    [[3, 70, 5], 0, 'thread'], [[3, 70, 5], 1, 'workgroup'], [[2, 301, 3], 1, 'workgroup'], [[5, 9], 1, 'thread'],
  ];
  for (const [shape, axis, mode] of cases) {
    const X = upload(new Rng(2).uniforms(numel(shape)), shape);
    const { step } = capture(() => scope(() => { sum(X, axis); mean(X, axis); }));
    const modes = (await step.profile()).map((p) => p.kernel).filter((k) => k.startsWith('reduce.sum/')).map((k) => k.split('/')[2]);
    assert.equal(modes, [mode, mode], `[${shape}] axis ${axis ?? 'all'}`);
    step.dispose(); X.dispose();
  }
});

test(subgroupVariantTitle('sum workgroup mode'), async () => {
  const X = upload(new Rng(1).uniforms(3 * 70 * 5), [3, 70, 5]);
  await expectSubgroupVariants('reduce.sum/', 1, () => { sum(X, 1); });
  X.dispose();
});

for (const dtype of DTYPES_UNDER_TEST) {
  // dx = k·dy spread over R, rounded once to x's dtype (f16: one rounding of values in [-1, 1), ~2^-11)
  test(`sum and mean ${dtype}: backward spreads dy over the axis`, async () => {
    for (const [shape, axis] of [[[3, 70, 5], 1], [[5, 9], 0], [[7], undefined]] as [number[], number | undefined][]) {
      const n = numel(shape), rng = new Rng(n);
      const x = quantize(rng.uniforms(n), dtype);
      const outShape = axis === undefined ? [1] : shape.filter((_, i) => i !== axis);
      const r = quantize(rng.uniforms(numel(outShape)), 'f32');
      const [outer, R, inner] = axis === undefined ? [1, n, 1] : [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
      for (const isMean of [false, true]) {
        const X = upload(x, shape, dtype, { requiresGrad: true });
        backward(sum(mul((isMean ? mean : sum)(X, axis), upload(r, outShape))));
        const want = new Float64Array(n);
        for (let o = 0; o < outer; o++) for (let k = 0; k < R; k++) for (let i = 0; i < inner; i++) want[(o * R + k) * inner + i] = r[o * inner + i] / (isMean ? R : 1);
        assert.is(X.grad!.dtype, dtype, 'dx has x\'s dtype');
        expectClose(await X.grad!.read(), want, TOL[dtype], `[${shape}] axis ${axis ?? 'all'} ${isMean ? 'mean' : 'sum'}: dx`);
        X.dispose();
      }
    }
  });
}

// the weight-gradient passes' partial sums: same f32 accumulation as above (R <= 1000), so TOL.f32
test('sumColumns sums every row (any leading dimensions), f32 and f16', async () => {
  for (const dtype of DTYPES_UNDER_TEST) {
    for (const [R, N] of [[13, 7], [1000, 3], [1, 5]]) {
      const x = quantize(new Rng(4 + R).uniforms(R * N), dtype);
      expectClose(await download(sumColumns(upload(x, [R, N], dtype))), sumRef(x, [R, N], 0), TOL.f32, `sumColumns [${R}, ${N}] ${dtype}`);
    }
    const x = quantize(new Rng(6).uniforms(2 * 3 * 5), dtype);
    const y = sumColumns(upload(x, [2, 3, 5], dtype), [5, 1]);
    assert.equal([...y.shape], [5, 1]);
    expectClose(await download(y), sumRef(x, [6, 5], 0), TOL.f32, `sumColumns [2, 3, 5] ${dtype}`);
  }
});

test('sumRows sums every row over its last dimension into the given shape, f32 and f16', async () => {
  for (const dtype of DTYPES_UNDER_TEST) {
    const [A, B, L] = [3, 5, 11], x = quantize(new Rng(5).uniforms(A * B * L), dtype);
    const y = sumRows(upload(x, [A, B, L], dtype), [B, A, 1]);
    assert.equal([...y.shape], [B, A, 1]);
    expectClose(await download(y), sumRef(x, [A * B, L], 1), TOL.f32, `sumRows ${dtype}`);
    const z = quantize(new Rng(8).uniforms(4 * 999), dtype);
    expectClose(await download(sumRows(upload(z, [4, 999], dtype))), sumRef(z, [4, 999], 1), TOL.f32, `sumRows [4, 999] ${dtype}`);
  }
  const x = Tensor.zeros([4, 6]);
  assert.throws(() => sumRows(x, [5]), (e: Error) => e.message === 'sum: result shape [5] does not hold the 4 row sums of [4, 6]');
  assert.throws(() => sumColumns(x, [4]), (e: Error) => e.message === 'sum: result shape [4] does not hold the 6 column sums of [4, 6]');
  x.dispose();
});

test('sum and mean: an axis out of range names the op', () => {
  const x = Tensor.zeros([2, 3]);
  assert.throws(() => sum(x, 2), /sum: axis 2 out of range for x of rank 2/);
  assert.throws(() => mean(x, -1), /mean: axis -1 out of range for x of rank 2/);
  x.dispose();
});

// Binding windows under a lowered limit (half of x's bytes, or 4096 bytes for the flat sums), by the
// axis structure: with axes before the summed one the windows take whole [R, inner] slices, so sums and
// spreads equal the whole run's bit for bit; where the summed axis leads (axis 0, everything,
// sumColumns) each window sums its rows into a partial and the partials are added after: another order
// of f32 additions of <= 3219 terms, bounded by 1e-6 (mean's 1/R is applied per partial). The spread
// backward binds dy whole there and is exact. Catches a window's count or grid taken from the whole
// tensor, a partial lost or added twice, a window's y bound at another window than its x.
// [shape, axis, limit (0: half of x), leads]
const WINDOWED: [number[], number | undefined, number, boolean][] = [
  [[8, 50, 16], 1, 0, false], [[8, 70, 16], 1, 0, false], [[16, 64], 0, 1024, true], [[3, 37, 29], undefined, 4096, true],
];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [shape, axis, lowered, leads] of WINDOWED) {
    test(`sum and mean ${dtype} [${shape}] axis ${axis ?? 'all'} in binding windows equal the whole run's${leads ? ' (partials: 1e-6)' : ' bit for bit'}`, async () => {
      const n = numel(shape), rng = new Rng(n);
      const x = quantize(rng.uniforms(n, 0.5, 1.5), dtype); // one sign: a cancelling sum would measure cancellation
      const outShape = axis === undefined ? [1] : shape.filter((_, i) => i !== axis);
      const X = upload(x, shape, dtype), r = quantize(rng.uniforms(numel(outShape)), 'f32');
      const limit = lowered || X.byteLength / 2, tol = leads ? 1e-6 : 0;
      await expectWindowedSame('sum/mean forward', { limit, tol: [tol, tol], run: () => [sum(X, axis), mean(X, axis)] });
      await expectWindowedSame('sum/mean backward', {
        limit,
        run: () => [sum, mean].map((op) => {
          const Xg = upload(x, shape, dtype, { requiresGrad: true });
          backward(sum(mul(op(Xg, axis), upload(r, outShape))));
          const dx = Xg.grad!.share();
          Xg.dispose();
          return dx;
        }),
      });
      X.dispose();
    });
  }
}

// the conv wgrads' second pass (sumRows: windows of whole rows, exact) and linear's db (sumColumns:
// partials over the rows, 1e-6 as above); rows of 25 elements window in steps of 64 rows (f32) or 128
// (f16), so 4 and 2 windows
test('sumRows and sumColumns in binding windows equal the whole run\'s', async () => {
  for (const dtype of DTYPES_UNDER_TEST) {
    const X = upload(quantize(new Rng(12).uniforms(256 * 25, 0.5, 1.5), dtype), [256, 25], dtype);
    const limit = X.byteLength / (dtype === 'f32' ? 4 : 2);
    await expectWindowedSame(`sumRows ${dtype}`, { limit, run: () => [sumRows(X)] });
    await expectWindowedSame(`sumColumns ${dtype}`, { limit, tol: [1e-6], run: () => [sumColumns(X)] });
    X.dispose();
  }
});

// Catches a sum that cannot be windowed failing in launch() as an unexplained oversized binding (or not
// at all): one [R, inner] slice after the leading axes over the limit, or a leading-axis sum's f32
// result over it, each says why.
test('sum: a tensor over the limit that windows cannot split says why', async () => {
  const slices = Tensor.zeros([2, 100, 8]), wide = Tensor.zeros([4, 1000]);
  await withBindingLimit(1024, () => {
    assert.throws(() => sum(slices, 1), (e: Error) => e.message === 'sum: f32[2, 100, 8] (6400 bytes) is over the 1024-byte storage binding limit and cannot be windowed: ' +
      'windows split only the 2 slices before the summed axis, and one slice [100, 8] (3200 bytes) is over the limit by itself: sum over the leading axis, or use a smaller tensor');
    assert.throws(() => mean(wide, 0), (e: Error) => e.message === 'mean: f32[4, 1000] cannot be windowed: windows split the summed (leading) axis, but f32[1000] (4000 bytes), ' +
      'bound whole, is over the 1024-byte storage binding limit by itself: use a smaller tensor');
  });
  slices.dispose(); wide.dispose();
});

test.run();
