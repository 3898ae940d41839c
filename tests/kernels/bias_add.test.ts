// The per-channel bias (+ ReLU) of the folded model's stem against float64 references: forward and,
// through autograd, dx and db.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, backward } from '../../engine/index.ts';
import { biasAdd, biasAddForward } from '../../kernels/bias_add.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { dot, expectClose, TOL } from '../util/check.ts';
import { gradcheck } from '../util/gradcheck.ts';
import { biasAddRef, biasAddBackwardRef } from '../ref/bias_add.ts';
import { expectWindowedSame } from '../util/windows.ts';

const SHAPES = [[1, 1, 1, 1], [2, 5, 3, 7], [3, 8, 4, 4]];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

// y is one add (and max) in f32, rounded once to x's dtype: the default bounds
for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of SHAPES) {
    test(`biasAdd ${dtype} [${shape}] (with and without relu)`, async () => {
      const rng = new Rng(shape.join('').length * 7 + shape[1]);
      const x = quantize(rng.uniforms(numel(shape), -2, 2), dtype), b = quantize(rng.uniforms(shape[1], -1, 1), 'f32');
      const X = upload(x, shape, dtype), B = upload(b, [shape[1]]);
      for (const relu of [false, true]) {
        const y = biasAdd(X, B, relu);
        assert.is(y.dtype, dtype);
        expectClose(await download(y), biasAddRef(x, b, shape, relu), TOL[dtype], `biasAdd relu=${relu}`);
      }
      X.dispose(); B.dispose();
    });
  }
}

test('ref: biasAdd gradients match finite differences', () => {
  const shape = [2, 3, 2, 5], rng = new Rng(11);
  // |x + b| >= 0.1 keeps every value away from ReLU's kink, where finite differences break down
  const x = rng.uniforms(numel(shape)).map((v) => v + Math.sign(v) * 0.5), b = rng.uniforms(3, -0.4, 0.4), r = rng.normals(numel(shape));
  for (const relu of [false, true]) {
    const { dx, db } = biasAddBackwardRef(x, b, r, shape, relu);
    gradcheck((v) => dot(r, biasAddRef(v, b, shape, relu)), x, dx, `relu=${relu} dx`);
    gradcheck((v) => dot(r, biasAddRef(x, v, shape, relu)), b, db, `relu=${relu} db`);
  }
});

// L = Σ r ⊙ biasAdd(x, b): dx is dy passed on (masked by the ReLU), exact up to dy's rounding to x's
// dtype; db sums N·H·W <= 48 terms in f32 (~1e-7): the default bounds
for (const dtype of DTYPES_UNDER_TEST) {
  test(`biasAdd ${dtype}: dx and db through autograd, with and without relu`, async () => {
    for (const shape of SHAPES.slice(1)) {
      for (const relu of [false, true]) {
        const rng = new Rng(numel(shape) + (relu ? 1 : 0));
        const x = quantize(rng.uniforms(numel(shape), -2, 2), dtype), b = quantize(rng.uniforms(shape[1], -1, 1), 'f32');
        const r = quantize(rng.uniforms(numel(shape)), dtype);
        const X = upload(x, shape, dtype, { requiresGrad: true }), B = upload(b, [shape[1]], 'f32', { requiresGrad: true });
        backward(sum(mul(biasAdd(X, B, relu), upload(r, shape, dtype))));
        const want = biasAddBackwardRef(x, b, r, shape, relu);
        assert.is(X.grad!.dtype, dtype, 'dx has x\'s dtype');
        assert.is(B.grad!.dtype, 'f32', 'db is f32');
        expectClose(await X.grad!.read(), want.dx, TOL[dtype], `[${shape}] relu=${relu} dx`);
        expectClose(await B.grad!.read(), want.db, TOL.f32, `[${shape}] relu=${relu} db`);
        X.dispose(); B.dispose();
      }
    }
  });
}

test('biasAdd rejects a bias of the wrong length', () => {
  const x = upload(new Float32Array(24), [2, 3, 2, 2]), b = upload(new Float32Array(4), [4]);
  assert.throws(() => biasAdd(x, b), /biasAdd: b must be \[3\], got \[4\], x is \[2, 3, 2, 2\]/);
  x.dispose(); b.dispose();
});

// Binding windows: under a lowered limit x and y run a few images per dispatch, b bound whole; the
// backward's dx (the ReLU mask) and its per-plane sums window too. Catches a window's count or grid taken
// from the whole batch, and a window's channels read from the wrong bias. [shape, limit, db's bound]:
// odd 7x7 planes (windows of 2 images f32, 4 f16, the plane sums in windows of 64 or 128 planes) where
// the per-image sums [N, C] fit, so db is added up as whole and equal; 1x1 planes where they do not, so
// db's sum over the batch adds per-window partials in another order: f32 rounding of 16 terms, < 1e-6.
const WINDOWED: [number[], number, number][] = [[[8, 32, 7, 7], 12544, 0], [[16, 128, 1, 1], 2048, 1e-6]];
for (const dtype of DTYPES_UNDER_TEST) {
  for (const [shape, limit, dbTol] of WINDOWED) {
    test(`biasAdd ${dtype} [${shape}] in binding windows: y, dx and db equal the whole batch's`, async () => {
      const rng = new Rng(numel(shape));
      const x = quantize(rng.uniforms(numel(shape), -2, 2), dtype), b = rng.uniforms(shape[1], -1, 1), r = quantize(rng.uniforms(numel(shape)), dtype);
      const X = upload(x, shape, dtype), B = upload(b, [shape[1]]), R = upload(r, shape, dtype);
      for (const relu of [false, true]) {
        await expectWindowedSame(`biasAdd relu=${relu}`, {
          limit,
          tol: [0, 0, dbTol],
          run: () => {
            const Xg = upload(x, shape, dtype, { requiresGrad: true }), Bg = upload(b, [shape[1]], 'f32', { requiresGrad: true });
            backward(sum(mul(biasAdd(Xg, Bg, relu), R)));
            const grads = [Xg.grad!.share(), Bg.grad!.share()];
            Xg.dispose(); Bg.dispose();
            return [biasAddForward(X, B, relu), ...grads];
          },
        });
      }
      X.dispose(); B.dispose(); R.dispose();
    });
  }
}

// the raw forward over [N, C] (a linear layer's bias): each image one row of C; catches a plane size
// taken from missing H, W (NaN), and windows of such rows (64 channels: 256 bytes f32, windows of 2 f16)
for (const dtype of DTYPES_UNDER_TEST) {
  test(`biasAddForward ${dtype} over [N, C], whole and in binding windows`, async () => {
    const shape = [16, 64], rng = new Rng(5);
    const x = quantize(rng.uniforms(numel(shape), -2, 2), dtype), b = rng.uniforms(64, -1, 1);
    const X = upload(x, shape, dtype), B = upload(b, [64]);
    for (const relu of [false, true]) {
      expectClose(await download(biasAddForward(X, B, relu)), biasAddRef(x, Float32Array.from(b), [16, 64, 1, 1], relu), TOL[dtype], `relu=${relu}`);
      await expectWindowedSame(`biasAddForward [N, C] relu=${relu}`, { limit: X.byteLength / 4, run: () => [biasAddForward(X, B, relu)] });
    }
    X.dispose(); B.dispose();
  });
}

test.run();
