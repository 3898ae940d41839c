import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, capture, type DType } from '../../engine/index.ts';
import { augmentBatch, uploadBytes, writeBytes, byteTensor, PARAMS } from '../../kernels/augment.ts';
import { trainTransforms, testTransforms, randomCrops, imageParams, type CropChoice, type TrainOpts } from '../../train/data/transforms.ts';
import { upload, download, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, TOL, TOL_ROUND } from '../util/check.ts';
import { expectWindowedSame } from '../util/windows.ts';
import { augmentRef } from '../ref/augment.ts';

const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
const FMNIST = { mean: [0.286], std: [0.353] };
const stats = (C: number) => (C === 1 ? FMNIST : { mean: CIFAR.mean.slice(0, C), std: CIFAR.std.slice(0, C) });

const bytes = (n: number, seed: number) => { const r = new Rng(seed); return Uint8Array.from({ length: n }, () => r.int(256)); };
const paramsOf = (crops: CropChoice[], o: TrainOpts) => Float32Array.from(crops.flatMap((c) => imageParams(o.pad, o.crop, o.crop, o.size, c)));

/** GPU output for explicit crop choices (so the reference sees the same ones). */
async function run(img: Uint8Array, [N, C, H, W]: number[], params: Float32Array, size: number, dtype: DType) {
  const src = uploadBytes(img), prm = upload(params, [N, PARAMS]);
  const { mean, std } = stats(C);
  const y = await download(augmentBatch(src, { N, C, H, W }, prm, { size, dtype }, mean, std));
  src.dispose(); prm.dispose();
  return y;
}

// [N, C, H, W, pad, crop, size]: CIFAR without resize, to 224, Fashion-MNIST (pad 6 so a 32 crop
// fits 28), an odd output side, downscaling, and a non-square source with a byte count not a multiple of 4
const CASES = [
  [3, 3, 32, 32, 4, 32, 32],
  [2, 3, 32, 32, 4, 32, 224],
  [3, 1, 28, 28, 6, 32, 32],
  [3, 3, 32, 32, 4, 32, 37],
  [2, 3, 32, 32, 4, 32, 17],
  [3, 3, 13, 11, 3, 9, 20],
];
// The literal pipeline's arithmetic in f32, then (f16) one rounding to half: TOL_ROUND. The worst f32
// element is ~0.9 of TOL.f32 times max|y|: sample positions carry f32 rounding (~4e-6 px at x ~ 32)
// times the steepest step between neighbouring pixels (255/255/std ~ 4 per px), under expectClose's default.
// Catches one wrong output element among the 300k of a 224x224 batch, which rel-L2 alone would not see.
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, C, H, W, pad, crop, size] of CASES) {
    test(`augment ${dtype} [${N},${C},${H},${W}] pad ${pad} crop ${crop} -> ${size} vs literal pipeline`, async () => {
      const o: TrainOpts = { H, W, pad, crop, size, flip: true };
      const img = bytes((N + 2) * C * H * W, N * size + C);
      // random choices, plus the extreme corners (crops reaching into the padding on both sides)
      const last = { oy: H + 2 * pad - crop, ox: W + 2 * pad - crop };
      const crops = [...randomCrops(new Rng(size), N, o), { oy: 0, ox: last.ox, flip: true }, { oy: last.oy, ox: 0, flip: false }];
      const y = await run(img, [N + 2, C, H, W], paramsOf(crops, o), size, dtype);
      const want = augmentRef(img, [N + 2, C, H, W], crops, { pad, Kh: crop, Kw: crop, size, ...stats(C) });
      expectClose(y, want, TOL_ROUND[dtype], 'y');
    });
  }

  test(`augment ${dtype} test transform (whole-image resize) vs literal pipeline`, async () => {
    for (const [N, C, H, W, size] of [[2, 3, 32, 32, 224], [3, 3, 13, 11, 16], [2, 1, 28, 28, 32]]) {
      const img = bytes(N * C * H * W, size);
      const y = await run(img, [N, C, H, W], testTransforms(N, { H, W, size }), size, dtype);
      const want = augmentRef(img, [N, C, H, W], Array(N).fill({ oy: 0, ox: 0, flip: false }), { pad: 0, Kh: H, Kw: W, size, ...stats(C) });
      expectClose(y, want, TOL_ROUND[dtype], `y ${H}x${W} -> ${size}`);
    }
  });
}

test('identity (crop at the pad offset, no flip, no resize) is (v/255 - mean)/std to f32 rounding', async () => {
  const [N, C, H, W] = [2, 3, 32, 32];
  const img = bytes(N * C * H * W, 3);
  const o: TrainOpts = { H, W, pad: 4, crop: 32, size: 32, flip: false };
  const y = await run(img, [N, C, H, W], paramsOf([{ oy: 4, ox: 4, flip: false }, { oy: 4, ox: 4, flip: false }], o), 32, 'f32');
  let worst = 0;
  for (let i = 0; i < y.length; i++) {
    const c = Math.floor(i / (H * W)) % C;
    worst = Math.max(worst, Math.abs(y[i] - (img[i] / 255 - CIFAR.mean[c]) / CIFAR.std[c]));
  }
  assert.ok(worst < 1e-6, `worst |d| ${worst}`); // a few f32 ulps of values up to ~2.2: no interpolation error
});

test('a flip mirrors the unflipped output', async () => {
  const [N, C, H, W] = [1, 3, 32, 32];
  const img = bytes(N * C * H * W, 4);
  for (const size of [32, 37]) {
    const o: TrainOpts = { H, W, pad: 4, crop: 32, size, flip: true };
    const a = await run(img, [N, C, H, W], paramsOf([{ oy: 2, ox: 7, flip: false }], o), size, 'f32');
    const b = await run(img, [N, C, H, W], paramsOf([{ oy: 2, ox: 7, flip: true }], o), size, 'f32');
    const mirrored = b.map((_, i) => b[i - (i % size) + size - 1 - (i % size)]);
    if (size === 32) assert.equal(Array.from(a), Array.from(mirrored), 'exact without resize');
    else expectClose(a, mirrored, TOL.f32, `mirror at ${size}`); // positions differ by f32 rounding (~4e-6 px at x ~ 32)
  }
});

test('seeded transforms are reproducible and in range', () => {
  const o: TrainOpts = { H: 28, W: 28, pad: 6, crop: 32, size: 32, flip: true };
  const a = trainTransforms(new Rng(7), 200, o), b = trainTransforms(new Rng(7), 200, o);
  assert.equal(Array.from(a), Array.from(b));
  assert.not.equal(Array.from(a), Array.from(trainTransforms(new Rng(8), 200, o)));
  const crops = randomCrops(new Rng(7), 200, o);
  assert.equal(Array.from(a), Array.from(paramsOf(crops, o)), 'trainTransforms = imageParams of randomCrops');
  assert.ok(crops.every((c) => c.oy >= 0 && c.oy <= 8 && c.ox >= 0 && c.ox <= 8));
  assert.ok(new Set(crops.map((c) => c.ox)).size === 9, 'every offset 0..8 drawn');
  const flips = crops.filter((c) => c.flip).length;
  assert.ok(flips > 60 && flips < 140, `${flips} of 200 flipped`);
  assert.ok(randomCrops(new Rng(7), 50, { ...o, flip: false }).every((c) => !c.flip));
});

test('step replay: new params written into the same tensor give the new transform', async () => {
  const [N, C, H, W] = [2, 3, 32, 32];
  const o: TrainOpts = { H, W, pad: 4, crop: 32, size: 20, flip: true };
  const img1 = bytes(N * C * H * W, 10), img2 = bytes(N * C * H * W, 11);
  const src = byteTensor(img1.length), prm = Tensor.empty([N, PARAMS]);
  writeBytes(src, img1);
  prm.write(trainTransforms(new Rng(1), N, o));
  const { step, result: y } = capture(() => augmentBatch(src, { N, C, H, W }, prm, { size: 20, dtype: 'f32' }, CIFAR.mean, CIFAR.std));
  writeBytes(src, img2);
  prm.write(trainTransforms(new Rng(2), N, o));
  step.run();
  const want = augmentRef(img2, [N, C, H, W], randomCrops(new Rng(2), N, o), { pad: 4, Kh: 32, Kw: 32, size: 20, ...CIFAR });
  expectClose(await y.read(), want, TOL.f32, 'replayed y');
  step.dispose(); y.dispose(); src.dispose(); prm.dispose();
});

// Catches: a window's images reading another window's bytes or crop parameters (src and params are
// windowed with the output), the last window's odd image count, a 'rowsAny' window (S % 4 != 0).
for (const dtype of DTYPES_UNDER_TEST) {
  for (const size of [32, 30]) {
    test(`augment ${dtype} -> ${size} in windows of images equals the whole batch`, async () => {
      const [N, C, H, W] = [35, 3, 32, 32], o: TrainOpts = { H, W, pad: 4, crop: 32, size, flip: true };
      const src = uploadBytes(bytes(N * C * H * W, size)), prm = upload(paramsOf(randomCrops(new Rng(size), N, o), o), [N, PARAMS]);
      // the column pass's t is 12288 bytes an image; size 32: windows of 8 images (params' 32-byte rows start
      // on 256-byte offsets), the last of 3; size 30: 10800-byte (f32) or 5400-byte (f16) output rows start
      // aligned every 16 or 32 images: windows of 32, then 3
      await expectWindowedSame('augment', { limit: (size === 32 ? 8 : 32) * 12288, run: () => [augmentBatch(src, { N, C, H, W }, prm, { size, dtype }, CIFAR.mean, CIFAR.std)] });
      src.dispose(); prm.dispose();
    });
  }
}

test('wrong shapes name the op and the shapes', () => {
  const dims = { N: 2, C: 3, H: 32, W: 32 }, out = { size: 32, dtype: 'f32' as DType };
  const src = byteTensor(2 * 3 * 32 * 32), prm = Tensor.zeros([2, PARAMS]), prm6 = Tensor.zeros([2, 6]);
  assert.throws(() => augmentBatch(src, { ...dims, N: 3 }, prm, out, CIFAR.mean, CIFAR.std), /augment: src must be \[2304\] .*got \[1536\]/);
  assert.throws(() => augmentBatch(src, dims, prm6, out, CIFAR.mean, CIFAR.std), /augment: params must be \[2, 8\], got \[2, 6\], src is \[1536\]/);
  assert.throws(() => augmentBatch(src, dims, prm, out, [0.5], [0.5]), /augment: mean and std need C=3 values, got 1 and 1/);
  assert.throws(() => augmentBatch(src, dims, prm, { size: 0, dtype: 'f32' }, CIFAR.mean, CIFAR.std), /augment: out.size must be a positive integer, got 0/);
  assert.throws(() => randomCrops(new Rng(1), 1, { H: 28, W: 28, pad: 0, crop: 32, size: 32, flip: true }), /crop 32 does not fit 28x28 padded by 0/);
  assert.throws(() => writeBytes(src, new Uint8Array(10)), /10 bytes do not fit/);
  src.dispose(); prm.dispose(); prm6.dispose();
});

test.run();
