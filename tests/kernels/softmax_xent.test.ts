import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, noGrad } from '../../engine/index.ts';
import { softmaxCrossEntropy, softmaxCrossEntropyForward, topkCorrect } from '../../kernels/softmax_xent.ts';
import { scale } from '../../kernels/elementwise.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST, SUBGROUP_PATHS, sgName, withSubgroups, subgroupVariantTitle, expectSubgroupVariants } from '../util/gpu.ts';
import { expectClose, TOL } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { softmaxXentRef, topkCorrectRef } from '../ref/softmax_xent.ts';

// Everything is computed in f32 from the (quantised) logits, so the loss and the f32 dlogits meet the
// f32 bound for both dtypes; only the gradient stored as halves gets the f16 bound. The rows and the
// mean run in both their subgroup and plain variants where the device has subgroups: K = 1000 strides a
// subgroup over the row, K = 1 and 3 leave invocations without a logit, N = 130 spans three workgroups.
const CASES: [number, number][] = [[3, 10], [5, 7], [4, 1000], [1, 3], [6, 1], [130, 10]];
const labelsFor = (rng: Rng, N: number, K: number) => Float64Array.from({ length: N }, () => rng.int(K));

for (const sg of SUBGROUP_PATHS) for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, K] of CASES) {
    test(`softmaxCrossEntropy ${dtype} [${N}, ${K}]: loss, per-row losses, dlogits and backward${sgName(sg)}`, () => withSubgroups(sg, async () => {
      const rng = new Rng(N * 1000 + K);
      const z = quantize(rng.normals(N * K, 3), dtype), y = labelsFor(rng, N, K);
      for (const s of [0, 0.1, 0.35]) {
        const want = softmaxXentRef(z, N, K, y, s);
        if (dtype === 'f32' && N * K <= 100) { // the reference's gradient, by finite differences
          gradcheck((v) => softmaxXentRef(v, N, K, y, s).loss, Float64Array.from(z), want.dlogits, `s=${s} ref dlogits`);
        }
        const Z = upload(z, [N, K], dtype), Y = upload(y, [N]);
        const r = softmaxCrossEntropyForward(Z, Y, s);
        expectClose(await download(r.loss), [want.loss], TOL.f32, `s=${s} loss`);
        expectClose(await download(r.losses), want.losses, TOL.f32, `s=${s} losses`);
        expectClose(await download(r.dlogits!), want.dlogits, TOL.f32, `s=${s} dlogits`);
        // the op: backward multiplies the saved gradient by dy, here 3 through a scale op
        const Zg = upload(z, [N, K], dtype, { requiresGrad: true });
        const loss = softmaxCrossEntropy(Zg, Y, { smoothing: s });
        expectClose(await loss.read(), [want.loss], TOL.f32, `s=${s} op loss`);
        backward(scale(loss, 3));
        expectClose(await Zg.grad!.read(), want.dlogits.map((v) => 3 * v), TOL[dtype], `s=${s} grad`);
        for (const t of [Z, Y, Zg, loss]) t.dispose();
      }
    }));
  }
}

test(subgroupVariantTitle('softmaxCrossEntropy rows and mean'), async () => {
  const N = 5, K = 7, rng = new Rng(3);
  const Z = upload(rng.normals(N * K), [N, K]), Y = upload(labelsFor(rng, N, K), [N]);
  await expectSubgroupVariants('softmax_xent.', 2, () => { softmaxCrossEntropyForward(Z, Y, 0.1); });
  Z.dispose(); Y.dispose();
});

test('softmaxCrossEntropy backward takes dy from the GPU (loss-scale seed 1024, f16 logits)', async () => {
  const N = 8, K = 10, rng = new Rng(4);
  const z = quantize(rng.normals(N * K, 2), 'f16'), y = labelsFor(rng, N, K);
  const Z = upload(z, [N, K], 'f16', { requiresGrad: true }), Y = upload(y, [N]);
  backward(softmaxCrossEntropy(Z, Y), 1024);
  assert.is(Z.grad!.dtype, 'f16');
  expectClose(await Z.grad!.read(), softmaxXentRef(z, N, K, y, 0.1).dlogits.map((v) => 1024 * v), TOL.f16, 'grad');
  Z.dispose(); Y.dispose();
});

test('label smoothing matches closed forms', async () => {
  const K = 10, a = 2.5, N = 4;
  for (const s of [0, 0.1, 0.5, 1]) {
    // equal logits: softmax is uniform, so the loss is log K whatever q is
    const flat = upload(new Float64Array(N * K).fill(0.7), [N, K]), Y = upload([0, 3, 9, 5], [N]);
    expectClose(await download(noGrad(() => softmaxCrossEntropy(flat, Y, { smoothing: s }))), [Math.log(K)], TOL.f32, `s=${s} uniform`);
    // z_label = a, others 0: loss = log(e^a + K - 1) - (1 - s)·a - (s/K)·a
    const z = new Float64Array(N * K);
    [0, 3, 9, 5].forEach((l, n) => { z[n * K + l] = a; });
    const want = Math.log(Math.exp(a) + K - 1) - (1 - s) * a - (s / K) * a;
    expectClose(await download(noGrad(() => softmaxCrossEntropy(upload(z, [N, K]), Y, { smoothing: s }))), [want], TOL.f32, `s=${s} one-hot`);
    flat.dispose(); Y.dispose();
  }
});

for (const sg of SUBGROUP_PATHS) test(`softmaxCrossEntropy is stable for huge logits (f32 1e4 + N(0,1), f16 6e4 + N(0,30))${sgName(sg)}`, () => withSubgroups(sg, async () => {
  const N = 5, K = 7, rng = new Rng(9), y = labelsFor(rng, N, K);
  for (const [dtype, off, sd] of [['f32', 1e4, 1], ['f16', 6e4, 30]] as const) {
    const z = quantize(rng.normals(N * K, sd).map((v) => off + v), dtype);
    const r = softmaxCrossEntropyForward(upload(z, [N, K], dtype), upload(y, [N]), 0.1);
    const want = softmaxXentRef(z, N, K, y, 0.1);
    expectClose(await download(r.loss), [want.loss], TOL.f32, `${dtype} loss`);
    expectClose(await download(r.dlogits!), want.dlogits, TOL.f32, `${dtype} dlogits`);
    r.losses.dispose();
  }
}));

test('topkCorrect: top-1 / top-5 hits with ties, K = 10, 7, 3, 1000', async () => {
  for (const [N, K] of [[37, 10], [9, 7], [5, 3], [6, 1000]]) {
    const rng = new Rng(K);
    // small integers make ties common; the label ties go to lower indices
    const z = Float64Array.from({ length: N * K }, () => rng.int(6)), y = labelsFor(rng, N, K);
    for (const dtype of DTYPES_UNDER_TEST) {
      const hits = await download(topkCorrect(upload(z, [N, K], dtype), upload(y, [N])));
      expectClose(hits, topkCorrectRef(z, N, K, y), 0, `[${N}, ${K}] ${dtype}`);
    }
  }
});

test('topkCorrect: a NaN label logit is a miss', async () => {
  const z = new Float64Array(20).fill(0.5);
  z[3] = NaN;
  const hits = await download(topkCorrect(upload(z, [2, 10]), upload([3, 3], [2])));
  assert.equal([...hits], [0, 0, 0, 1]); // row 1: ties with classes 0..2 put the label 4th
});

for (const sg of SUBGROUP_PATHS) test(`an invalid label gives a NaN loss and NaN hits${sgName(sg)}`, () => withSubgroups(sg, async () => {
  const z = upload(new Rng(1).normals(30), [3, 10]);
  for (const bad of [10, 2.5, -1]) {
    const Y = upload([1, bad, 4], [3]);
    const r = softmaxCrossEntropyForward(z, Y, 0.1);
    const losses = await download(r.losses);
    assert.ok(Number.isFinite(losses[0]) && Number.isNaN(losses[1]) && Number.isFinite(losses[2]), `label ${bad}: ${losses}`);
    assert.ok(Number.isNaN((await download(r.loss))[0]), `label ${bad}: mean`);
    r.dlogits!.dispose();
    const hits = await download(topkCorrect(z, Y));
    assert.ok(Number.isNaN(hits[2]) && hits[0] >= 0, `label ${bad}: hits ${hits}`);
    Y.dispose();
  }
  z.dispose();
}));

test('softmaxCrossEntropy: wrong shapes and options name the op and the shapes', () => {
  const z = Tensor.zeros([4, 10]), y4 = Tensor.zeros([4]), y5 = Tensor.zeros([5]);
  assert.throws(() => softmaxCrossEntropy(z, y5), /softmaxCrossEntropy: labels must be \[4\], got \[5\], logits is \[4, 10\]/);
  const z3 = Tensor.zeros([4, 10, 1]);
  assert.throws(() => softmaxCrossEntropy(z3, y4), /softmaxCrossEntropy: logits must be rank 2, got \[4, 10, 1\]/);
  assert.throws(() => softmaxCrossEntropy(z, y4, { smoothing: 1.5 }), /softmaxCrossEntropy: smoothing must be in \[0, 1\], got 1.5/);
  const yg = Tensor.zeros([4], 'f32', { requiresGrad: true });
  assert.throws(() => softmaxCrossEntropy(z, yg), /softmaxCrossEntropy: labels must not require grad/);
  const yh = Tensor.zeros([4], 'f16');
  assert.throws(() => softmaxCrossEntropy(z, yh), /softmaxCrossEntropy: labels must be f32, got f16/);
  for (const t of [z, y4, y5, z3, yg, yh]) t.dispose();
});

test.run();
