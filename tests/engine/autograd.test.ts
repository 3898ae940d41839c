import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, backward, noGrad, defineOp, poolStats, tapeLength, clearTape, Rng, scope } from '../../engine/index.ts';
import { addForward, mulForward, mul, add, relu } from '../../kernels/elementwise.ts';
import { sum, mean } from '../../kernels/reduce.ts';
import { upload } from '../util/gpu.ts';
import { expectClose, expectFailure, TOL } from '../util/check.ts';
import { gradcheck, numericGrad } from '../util/gradcheck.ts';

// square(x) = x·x with a deliberately wrong backward (dy·x instead of 2·dy·x)
const wrongSquare = defineOp('wrongSquare', {
  forward: (x: Tensor) => ({ y: mulForward(x, x), saved: { x } }),
  backward: (dy, { x }) => [mulForward(dy, x)],
});

test('gradcheck catches a deliberately wrong gradient (float64 reference level)', () => {
  const x = new Rng(1).uniforms(9);
  const f = (v: Float64Array) => v.reduce((s, t) => s + t * t, 0);
  gradcheck(f, Float64Array.from(x), x.map((t) => 2 * t), 'right'); // the right one passes
  expectFailure(() => gradcheck(f, Float64Array.from(x), x.map((t) => t), 'wrong'), /wrong vs finite differences: rel L2 5\.00e-1/, 'gradcheck');
});

test('finite differences of the GPU forward catch a wrong GPU backward rule', async () => {
  const x = new Rng(2).uniforms(11);
  const X = upload(x, [11], 'f32', { requiresGrad: true });
  backward(sum(wrongSquare(X)));
  const gpuGrad = await X.grad!.read();
  const want = numericGrad((v) => v.reduce((s, t) => s + t * t, 0), Float64Array.from(x));
  expectFailure(() => expectClose(gpuGrad, want, 1e-3, 'wrongSquare'), /wrongSquare: rel L2 5\.00e-1/, 'GPU check');
  X.dispose();
});

test('a tensor used twice gets the sum of both paths', async () => {
  const x = new Rng(3).uniforms(13);
  const X = upload(x, [13], 'f32', { requiresGrad: true });
  backward(sum(add(mul(X, X), X))); // d/dx (x² + x) = 2x + 1
  expectClose(await X.grad!.read(), x.map((t) => 2 * t + 1), TOL.f32, 'dx');
  X.dispose();
});

test('the gradient sum kernel adds f32 and packed f16, whole vec4s and odd sizes', async () => {
  const rng = new Rng(31);
  for (const dtype of ['f32', 'f16'] as const) {
    for (const n of [13, 48, 30, 4099 * 4, 4099]) { // words: odd, whole vec4s, (f16) whole vec4s of pairs, large
      const a = rng.uniforms(n).map((v) => 4 * v - 2), b = rng.uniforms(n).map((v) => 4 * v - 2);
      const A = upload(a, [n], dtype), B = upload(b, [n], dtype);
      const ha = await A.read(), hb = await B.read(); // f16: the inputs as stored
      const Y = addForward(A, B); // the kernel autograd sums gradients with
      expectClose(await Y.read(), ha.map((v, i) => v + hb[i]), TOL[dtype], `${dtype} n=${n}`);
      for (const t of [A, B, Y]) t.dispose();
    }
  }
});

test('gradients accumulate across backward calls until cleared', async () => {
  const X = upload([1, 2, 3], [3], 'f32', { requiresGrad: true });
  backward(mean(X));
  backward(mean(X));
  expectClose(await X.grad!.read(), [2 / 3, 2 / 3, 2 / 3], TOL.f32, 'accumulated');
  X.grad!.dispose();
  X.grad = null;
  backward(sum(X));
  expectClose(await X.grad!.read(), [1, 1, 1], TOL.f32, 'after clearing');
  X.dispose();
});

// Counts are deltas from the state the test starts in: every file shares one process, tape and pool.
test('backward frees saved activations and leaves only the leaf gradients', async () => {
  // backward empties the whole tape, so a node another test abandoned would free its saved tensors
  // inside this byte count: start from an empty tape
  clearTape();
  const W = upload(new Rng(4).uniforms(4096), [4096], 'f32', { requiresGrad: true });
  const before = poolStats().liveBytes, tape0 = tapeLength();
  scope(() => {
    const loss = sum(relu(relu(mul(W, W))));
    assert.is(tapeLength() - tape0, 4, 'one node per op');
    backward(loss);
  });
  assert.is(tapeLength(), 0, 'backward empties the tape');
  assert.is(poolStats().liveBytes - before, 4096 * 4, 'only W.grad is left');
  W.dispose();
});

test('no-grad mode records nothing; clearTape drops an abandoned forward', () => {
  const X = upload([1, -2], [2], 'f32', { requiresGrad: true });
  const tape0 = tapeLength(), live0 = poolStats().liveBytes;
  noGrad(() => relu(X)).dispose();
  assert.is(tapeLength() - tape0, 0, 'no-grad records nothing');
  relu(X).dispose();
  assert.is(tapeLength() - tape0, 1, 'one node for relu');
  assert.ok(poolStats().liveBytes > live0, 'the node keeps what it saved');
  clearTape();
  assert.is(tapeLength(), 0, 'clearTape empties the tape');
  assert.ok(poolStats().liveBytes <= live0, 'clearTape frees what the node saved'); // <=: nodes left by others go too
  X.dispose();
});

test('backward needs a scalar that requires grad', () => {
  const X = upload([1, 2], [2], 'f32', { requiresGrad: true });
  const y = relu(X);
  assert.throws(() => backward(y), /backward: loss must be a scalar, got \[2\]/);
  assert.throws(() => backward(upload([1], [1])), /does not require grad/);
  clearTape();
  y.dispose(); X.dispose();
});

test('an op on a disposed tensor names the op', () => {
  const X = upload([1], [1]);
  X.dispose();
  assert.throws(() => relu(X), /relu: Tensor#\d+ f32\[1\] was disposed before use/);
});

test.run();
