import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng } from '../../engine/index.ts';
import { ACC, UNROLL, copyCeilingForward, fmaCeilingForward } from '../../kernels/ceiling_probes.ts';
import { upload, download } from '../util/gpu.ts';
import { expectClose } from '../util/check.ts';

test('copy probe: y = x exactly', async () => {
  const x = new Rng(2).uniforms(4 * 37, -5, 5);
  const X = upload(x, [x.length]), Y = Tensor.empty([x.length]);
  copyCeilingForward(X, Y);
  assert.equal(Array.from(await download(Y)), Array.from(Float32Array.from(x)));
  X.dispose();
});

// out[i] = Σ over ACC chains and 4 lanes of the chain after iters·UNROLL steps of a = a·m + c
test('FMA probe: each chain reaches the closed form of its iteration (float64 reference)', async () => {
  const n = 130, iters = 7, m = Math.fround(0.9999), c = Math.fround(1e-4);
  const out = Tensor.empty([n]);
  fmaCeilingForward(out, iters);
  const steps = iters * UNROLL, mk = m ** steps, fixed = (c * (1 - mk)) / (1 - m);
  const want = Array.from({ length: n }, (_, i) => {
    const s = Math.fround(i * 1e-6);
    let sum = 0;
    for (let a = 0; a < ACC; a++) for (const lane of [0, 0.25, 0.5, 0.75]) sum += (s + lane + a) * mk + fixed;
    return sum;
  });
  // 28 dependent f32 FMAs per chain, then a 12-term sum: a few ulps of the result
  expectClose(await download(out), want, 1e-6, 'fma probe');
});

test.run();
