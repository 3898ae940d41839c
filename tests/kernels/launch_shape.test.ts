// Launch shapes (kernels/launch_shape.ts) of the elementwise family and batch norm's normalize and dx
// passes: every shape the tuner may choose (workgroups of 64-256, 1-4 items per invocation) computes
// every item with the default's instructions, so each must give the default's bits, which the ops'
// own tests hold to their float64 references; and a kept choice is what the op then runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, type DType, type Tensor } from '../../engine/index.ts';
import { runElementwise, type ElementwiseFn } from '../../kernels/elementwise.ts';
import { batchNormBackward, batchNormNormalize, batchNormStats } from '../../kernels/batch_norm.ts';
import { launchCandidates, DEFAULT_LAUNCH, type LaunchShape } from '../../kernels/launch_shape.ts';
import { clearTuned, recordProblems, type TuningProblem } from '../../kernels/tuning.ts';
import { upload, quantize, KeptOutputs } from '../util/gpu.ts';

const kept = new KeptOutputs();
const bits = async (t: Tensor) => Array.from(await kept.read(t));

test('launch candidates: the default first, workgroups within the device limits, 1-4 items each', () => {
  const c = launchCandidates();
  assert.equal(c[0], DEFAULT_LAUNCH);
  assert.ok(c.length >= 6, `${c.length} candidates`);
  assert.ok(c.some((s) => s.VPI === 4) && c.some((s) => s.WG === 64));
  assert.is(new Set(c.map((s) => `${s.WG}x${s.VPI}`)).size, c.length, 'no repeats');
});

/** Every candidate of the one problem `run` records gives its bits; then the last one kept is used. */
async function everyShapeSame(key: string, run: (s?: LaunchShape) => Tensor) {
  clearTuned();
  recordProblems(true);
  const want = await bits(run());
  const problems: TuningProblem[] = recordProblems(false);
  const p = problems.find((q) => q.key === key);
  assert.ok(p, `no problem ${key} among ${problems.map((q) => q.key).join('; ')}`);
  const cands = p!.candidates() as unknown as LaunchShape[];
  for (const s of cands) assert.equal(await bits(run(s)), want, `${key} ${s.WG}x${s.VPI}`);
  p!.keep(cands.at(-1) as unknown as Record<string, number>, 1, 2);
  assert.ok(p!.tuned());
  assert.equal(await bits(run()), want, `${key} tuned`);
  // the tuner's own run of the problem works on its own tensors
  const o = p!.open();
  o.run(cands[1] as unknown as Record<string, number>);
  o.dispose();
  clearTuned();
  kept.dispose();
}

// sizes: a partial last vector; more vectors than the widest shape's 256 x 4 items, in a partial last
// workgroup (so every invocation's later items are reached, some past the end)
const ELEMENTWISE: [ElementwiseFn, DType, number[]][] = [
  ['add', 'f32', [3, 5, 7, 11]], ['addRelu', 'f16', [2, 9, 37, 41]], ['reluBackward', 'f32', [4, 37, 61]], ['scale', 'f16', [1001]],
  ['mul', 'f32', [3, 7, 23, 29]],
];
for (const [fn, dtype, shape] of ELEMENTWISE) {
  test(`elementwise ${fn} ${dtype} [${shape.join(', ')}]: every launch shape gives the default's bits`, async () => {
    const rng = new Rng(shape.length * 7 + shape[0]!);
    const n = shape.reduce((a, b) => a * b, 1);
    const A = upload(quantize(rng.normals(n), dtype), shape, dtype), B = upload(quantize(rng.normals(n), dtype), shape, dtype);
    const binary = fn !== 'scale';
    await everyShapeSame(`elementwise ${fn} ${dtype} ${n}`, (s) => runElementwise(fn, A, binary ? B : null, 0.75, s));
    A.dispose(); B.dispose();
  });
}

// layouts: aligned (H·W % 4 == 0), straddle (H·W >= 4, not a multiple), tiny (H·W < 4)
// (the larger ones: more vectors than 256 x 4)
const BN: [DType, number[], boolean][] = [['f32', [3, 5, 4, 4], true], ['f16', [2, 7, 5, 7], false], ['f32', [5, 3, 1, 3], true], ['f16', [3, 6, 6, 6], true],
  ['f32', [3, 24, 12, 12], true], ['f32', [2, 13, 15, 15], false], ['f16', [5, 999, 1, 3], true]];
// with ReLU, also the residual tail relu(bn(x) + r) (its backward is reluBackward and the plain dx)
for (const [dtype, [N, C, H, W], relu] of BN) for (const res of relu ? [false, true] : [false]) {
  test(`batch norm ${dtype} [${N}, ${C}, ${H}, ${W}]${res ? ' + residual' : ''}${relu ? ' + ReLU' : ''}: normalize and dx, every launch shape gives the default's bits`, async () => {
    const rng = new Rng(N * C + H * W);
    const shape = [N, C, H, W], n = N * C * H * W;
    const x = upload(quantize(rng.normals(n), dtype), shape, dtype), dy = upload(quantize(rng.normals(n), dtype), shape, dtype);
    const r = upload(quantize(rng.normals(n), dtype), shape, dtype), residual = res ? { residual: r } : {};
    const gamma = upload(rng.normals(C), [C]), beta = upload(rng.normals(C, 0.3), [C]);
    const rm = upload(new Float64Array(C), [C]), rv = upload(new Float64Array(C).fill(1), [C]);
    const stats = batchNormStats(x, rm, rv, 0.1, 1e-5);
    const kind = `${dtype}${relu ? ' relu' : ''}${res ? ' res' : ''} N${N} C${C} ${H}x${W}`;
    await everyShapeSame(`batch_norm.elementwise normalize ${kind}`, (s) => batchNormNormalize(x, stats, gamma, beta, relu, { launch: s, ...residual }));
    await everyShapeSame(`batch_norm.elementwise dx ${dtype}${relu ? ' relu' : ''} N${N} C${C} ${H}x${W}`, (s) => {
      const g = batchNormBackward(dy, x, stats, gamma, beta, { training: true, relu, launch: s });
      g.dgamma.dispose(); g.dbeta.dispose();
      return g.dx!;
    });
    for (const t of [x, dy, r, gamma, beta, rm, rv, stats]) t.dispose();
  });
}

test.run();
