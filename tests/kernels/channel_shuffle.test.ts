import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward } from '../../engine/index.ts';
import { channelShuffle, channelShuffleForward } from '../../kernels/channel_shuffle.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, dot } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { channelShuffleRef, channelShuffleBackwardRef, shuffleSource } from '../ref/channel_shuffle.ts';
import { expectWindowedSame } from '../util/windows.ts';

// Shapes cover every copy mode of the kernel: planes of 16-byte vectors, of 4-byte words, and f16
// planes of odd length (pairs straddle channels); every group count ShuffleNetV1 uses.
const CASES: [number, number, number, number, number][] = [
  [1, 6, 1, 1, 3], [2, 24, 5, 7, 3], [3, 16, 4, 3, 8], [2, 240, 7, 7, 3], [2, 8, 4, 4, 2], [3, 12, 2, 2, 4], [2, 36, 3, 3, 1],
];

test('ref: the reshape/transpose definition gives y[j·C/G + i] = x[i·G + j]', () => {
  for (const [C, G] of [[12, 3], [48, 8], [30, 3], [6, 2], [16, 4]]) {
    const y = channelShuffleRef(Float64Array.from({ length: C }, (_, c) => c), [1, C, 1, 1], G);
    for (let i = 0; i < C / G; i++) for (let j = 0; j < G; j++) assert.is(y[j * (C / G) + i], i * G + j, `C=${C} G=${G} i=${i} j=${j}`);
    for (let c = 0; c < C; c++) assert.is(y[c], shuffleSource(c, C, G));
  }
});

test('ref: backward is the adjoint (finite differences) and equals the shuffle with C/G groups', () => {
  const shape = [2, 12, 2, 3], n = 144, rng = new Rng(7);
  const x = rng.normals(n), r = rng.normals(n);
  const dx = channelShuffleBackwardRef(r, shape, 3);
  gradcheck((v) => dot(r, channelShuffleRef(v, shape, 3)), x, dx, 'shuffle ref dx');
  expectClose(dx, channelShuffleRef(r, shape, 4), 0, 'adjoint = shuffle with C/G');
});

for (const [N, C, H, W, G] of CASES) {
  for (const dtype of DTYPES_UNDER_TEST) {
    test(`channelShuffle ${dtype} [${N},${C},${H},${W}] G=${G}: forward and backward are exact`, async () => {
      const shape = [N, C, H, W], n = N * C * H * W, rng = new Rng(n + G);
      const x = quantize(rng.normals(n), dtype), r = quantize(rng.normals(n), dtype);
      expectClose(await download(channelShuffleForward(upload(x, shape, dtype), G)), channelShuffleRef(x, shape, G), 0, 'y');
      const X = upload(x, shape, dtype, { requiresGrad: true }), R = upload(r, shape, dtype);
      backward(sum(mul(channelShuffle(X, G), R)));
      expectClose(await X.grad!.read(), channelShuffleBackwardRef(r, shape, G), 0, 'dx'); // a permutation is exact
      X.dispose(); R.dispose();
    });
  }
}

test('channelShuffle: bad arguments name the op and the shapes', () => {
  const x = Tensor.zeros([1, 10, 1, 1]), v = Tensor.zeros([10, 3]);
  assert.throws(() => channelShuffle(x, 3), /channelShuffle: C=10 is not divisible by G=3/);
  assert.throws(() => channelShuffle(v, 2), /channelShuffle: x must be rank 4, got \[10, 3\]/);
  x.dispose(); v.dispose();
});

// Binding windows: under a lowered limit the batch runs a few images per dispatch. Catches a window's
// unit count or grid taken from the whole batch, and x and y bound at different images. 4x4 planes
// copy 16-byte vectors; 5x5 planes copy words (f32) or gather pairs (f16, odd planes); images of
// 24·16 or 96·25 elements allow windows of 1, 2 or 4 images. The backward is the shuffle with C/G groups.
const WINDOWED: [number[], number][] = [[[8, 24, 4, 4], 3], [[8, 96, 5, 5], 3], [[8, 96, 5, 5], 8]];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [shape, G] of WINDOWED) {
    test(`channelShuffle ${dtype} [${shape}] G=${G} in binding windows: forward and backward equal the whole batch's bit for bit`, async () => {
      const n = shape.reduce((p, q) => p * q, 1), rng = new Rng(n + G);
      const X = upload(quantize(rng.normals(n), dtype), shape, dtype), R = upload(quantize(rng.normals(n), dtype), shape, dtype);
      await expectWindowedSame('channelShuffle', {
        limit: X.byteLength / 2, // windows of half the batch
        run: () => [channelShuffleForward(X, G), channelShuffleForward(R, shape[1] / G)],
      });
      X.dispose(); R.dispose();
    });
  }
}

test.run();
