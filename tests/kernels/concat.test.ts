import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, backward, noGrad } from '../../engine/index.ts';
import { concat, concatRelu, concatForward, concatBackward } from '../../kernels/concat.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, dot } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { concatRef, concatBackwardRef } from '../ref/concat.ts';
import { expectWindowedSame } from '../util/windows.ts';

// [N, Ca, Cb, H, W]: per-sample blocks of whole 16-byte vectors for both dtypes (7x7 with Ca, Cb
// multiples of 8, like ShuffleNet's joins; 24 + 216 as its first stride-2 unit), for f32 only
// (2x2 with Ca = 3, Cb = 5), and odd blocks that take the pair path.
const CASES = [[2, 8, 16, 7, 7], [2, 24, 216, 2, 2], [2, 3, 5, 2, 2], [2, 3, 5, 3, 3], [1, 1, 1, 1, 1], [2, 2, 3, 1, 4]];

for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, Ca, Cb, H, W] of CASES) {
    const aShape = [N, Ca, H, W] as const, bShape = [N, Cb, H, W], yShape = [N, Ca + Cb, H, W];
    const na = N * Ca * H * W, nb = N * Cb * H * W, ny = na + nb;
    for (const relu of [false, true]) {
      const name = relu ? 'concatRelu' : 'concat';
      test(`${name} ${dtype} a [${aShape}] b [${bShape}]`, async () => {
        const rng = new Rng(ny + (relu ? 1 : 0));
        // keep values off ReLU's kink so finite differences see one side only
        const away = (v: number) => (Math.abs(v) < 0.05 ? v + 0.1 : v);
        const a = quantize(rng.uniforms(na).map(away), dtype), b = quantize(rng.uniforms(nb).map(away), dtype);
        const r = quantize(rng.uniforms(ny), dtype);
        const y = concatRef(a, b, aShape, Cb, relu);
        const want = concatBackwardRef(r, aShape, Cb, relu ? y : undefined);
        if (ny <= 1000) { // finite differences are O(n²)
          gradcheck((v) => dot(r, concatRef(v, b, aShape, Cb, relu)), Float64Array.from(a), want.da, 'ref da');
          gradcheck((v) => dot(r, concatRef(a, v, aShape, Cb, relu)), Float64Array.from(b), want.db, 'ref db');
        }

        const A = upload(a, aShape, dtype, { requiresGrad: true }), B = upload(b, bShape, dtype, { requiresGrad: true });
        const R = upload(r, yShape, dtype);
        const Y = (relu ? concatRelu : concat)(A, B);
        expectClose(await Y.read(), y, 0, 'y'); // copies (and ReLU) are exact
        backward(sum(mul(Y, R)));
        expectClose(await A.grad!.read(), want.da, 0, 'da');
        expectClose(await B.grad!.read(), want.db, 0, 'db');
        A.dispose(); B.dispose(); R.dispose();
      });
    }
  }
}

test('concatBackward: any channel window, with and without the mask', async () => {
  const shape = [2, 7, 3, 5], n = 2 * 7 * 15;
  const dy = quantize(new Rng(9).uniforms(n), 'f32'), y = quantize(new Rng(10).uniforms(n), 'f32');
  for (const [c0, C] of [[0, 7], [2, 3], [6, 1]]) {
    const want = concatBackwardRef(dy, [2, c0, 3, 5], 7 - c0).db.filter((_, i) => Math.floor(i / 15) % (7 - c0) < C);
    const masked = concatBackwardRef(dy, [2, c0, 3, 5], 7 - c0, y).db.filter((_, i) => Math.floor(i / 15) % (7 - c0) < C);
    const DY = upload(dy, shape), Y = upload(y, shape);
    expectClose(await download(concatBackward(DY, c0, C)), want, 0, `slice c0=${c0} C=${C}`);
    expectClose(await download(concatBackward(DY, c0, C, Y)), masked, 0, `masked slice c0=${c0} C=${C}`);
    DY.dispose(); Y.dispose();
  }
});

test('concat: only the inputs that need a gradient get one', async () => {
  const a = Tensor.zeros([1, 2, 2, 2]), b = Tensor.full([1, 3, 2, 2], 1, 'f32', { requiresGrad: true });
  backward(sum(concat(a, b)));
  assert.is(a.grad, null);
  expectClose(await b.grad!.read(), new Float64Array(12).fill(1), 0, 'db');
  const y = noGrad(() => concatForward(a, b));
  assert.equal(y.shape, [1, 5, 2, 2]);
  a.dispose(); b.dispose(); y.dispose();
});

test('concat: bad arguments name the op and the shapes', () => {
  const a = Tensor.zeros([2, 3, 4, 4]), b = Tensor.zeros([2, 5, 4, 3]), c = Tensor.zeros([3, 5, 4, 4]), h = Tensor.zeros([2, 5, 4, 4], 'f16');
  assert.throws(() => concat(a, b), /concat: b must be \[2, \*, 4, 4\], got \[2, 5, 4, 3\], a is \[2, 3, 4, 4\]/);
  assert.throws(() => concatRelu(a, c), /concatRelu: b must be \[2, \*, 4, 4\], got \[3, 5, 4, 4\], a is \[2, 3, 4, 4\]/);
  assert.throws(() => concat(a, h), /concat: a and b must have the same dtype, got f32 and f16/);
  assert.throws(() => concat(Tensor.zeros([2, 3]), a), /concat: a must be rank 4, got \[2, 3\]/);
  a.dispose(); b.dispose(); c.dispose(); h.dispose();
});

// Binding windows: under a lowered limit the batch runs a few samples per dispatch, a, b and y (dy, y
// and dx backward) windowed alike. Catches a window's count or grid taken from the whole batch, and
// operands bound at different samples. [N, Ca, Cb, H, W, limit]: odd 7x7 blocks of whole vectors as
// ShuffleNet's joins (windows of 1 sample for f32, 2 for f16); blocks of 6 and 10 elements take the
// pair path, whose 32 or 64-sample steps make the batch 128 (4 or 2 windows).
const WINDOWED = [[4, 64, 192, 7, 7, 50176], [128, 3, 5, 1, 2, 2048]];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [N, Ca, Cb, H, W, limit] of WINDOWED) {
    test(`concat ${dtype} a [${N},${Ca},${H},${W}] b [${N},${Cb},${H},${W}] in binding windows: join and slices, with and without relu, equal the whole batch's bit for bit`, async () => {
      const rng = new Rng(N * Ca + Cb), aShape = [N, Ca, H, W], bShape = [N, Cb, H, W], yShape = [N, Ca + Cb, H, W];
      const up = (shape: number[]) => upload(quantize(rng.uniforms(shape.reduce((p, q) => p * q, 1), -1, 1), dtype), shape, dtype);
      const A = up(aShape), B = up(bShape), DY = up(yShape), Y = up(yShape);
      await expectWindowedSame('concat', {
        limit,
        run: () => [concatForward(A, B), concatForward(A, B, true), concatBackward(DY, 0, Ca), concatBackward(DY, Ca, Cb),
          concatBackward(DY, 0, Ca, Y), concatBackward(DY, Ca, Cb, Y)],
      });
      [A, B, DY, Y].forEach((t) => t.dispose());
    });
  }
}

test.run();
