// Tuned kernel choices (kernels/tuning.ts) and the pointwise GEMM's tuning hooks: a tuned entry is used
// only for the kernel source it was measured on and only when the kernel accepts it; every candidate the
// tuner may choose computes the default's result, bit for bit (a tile decides which invocation computes
// a sum, not its order), so tuning can change speed and never a result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, type DType } from '../../engine/index.ts';
import { gemmTiles, pointwiseDgrad, pointwiseForward, pointwiseWgrad, type GemmTiles, type WgradTiles } from '../../kernels/conv2d_pointwise.ts';
import { clearTuned, loadTuned, recordProblems, setTuned, sourceHash, tunedChoice, tunedEntries } from '../../kernels/tuning.ts';
import { depthwiseDgrad, depthwiseForward, type DepthwiseTile } from '../../kernels/conv2d_depthwise.ts';
import { upload, quantize, KeptOutputs, REDUCTION_PATHS, onReductionPath, reductionPathName, withReduction } from '../util/gpu.ts';
import type { WgradGpuTiles } from '../../kernels/conv2d_pointwise_wgrad_gpu.ts';

const kept = new KeptOutputs();

test('tunedChoice: only for the measured kernel source and only a choice the kernel accepts', () => {
  clearTuned();
  const valid = (c: Record<string, number>) => c.T! <= 8;
  setTuned('k', 's', { choice: { T: 4 }, source: 'aa', ms: 1, defaultMs: 2 });
  assert.equal(tunedChoice('k', 's', () => 'aa', valid), { T: 4 });
  assert.is(tunedChoice('k', 's', () => 'bb', valid), undefined, 'another kernel source: stale');
  assert.is(tunedChoice('k', 'other', () => 'aa', valid), undefined, 'another shape');
  setTuned('k', 's', { choice: { T: 64 }, source: 'aa', ms: 1, defaultMs: 2 });
  assert.is(tunedChoice('k', 's', () => 'aa', valid), undefined, 'a choice the kernel refuses');
  let asked = 0;
  assert.is(tunedChoice('k', 'none', () => { asked++; return 'aa'; }, valid), undefined);
  assert.is(asked, 0, 'no entry: the source hash is not even computed');
  clearTuned();
  assert.equal(loadTuned({ 'k s': { choice: { T: 2 }, source: 'aa', ms: 1, defaultMs: 1 }, 'k t': { choice: { T: 1.5 }, source: 'aa', ms: 1, defaultMs: 1 }, nospace: { choice: {}, source: 'a', ms: 1, defaultMs: 1 }, 'k u': null }), { loaded: 1, skipped: 3 });
  assert.is(tunedEntries().size, 1);
  assert.is(sourceHash('abc'), '1a47e90b');
  assert.is.not(sourceHash('abd'), sourceHash('abc'));
  clearTuned();
});

const SHAPES: [DType, number, number, number, number, number, number][] = [
  // dtype, N, Cin, Cout, H, W, G: vec4 pixels; f16 with odd H·W (staged through f32, then packed)
  ['f32', 2, 24, 48, 4, 4, 3],
  ['f16', 3, 12, 40, 3, 5, 2],
];
for (const [dtype, N, Cin, Cout, H, W, G] of SHAPES) {
  test(`pointwise ${dtype} [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} G=${G}: every tuning candidate equals the default (GEMM forward; dgrad: two; wgrad in the cpu reduction shape: all); a tuned entry is used`, () => withReduction('cpu', async () => {
    const rng = new Rng(Cin * Cout);
    const X = upload(quantize(rng.normals(N * Cin * H * W), dtype), [N, Cin, H, W], dtype);
    const Wt = upload(quantize(rng.normals(Cout * (Cin / G), 0.5), 'f32'), [Cout, Cin / G, 1, 1]);
    const DY = upload(quantize(rng.normals(N * Cout * H * W), dtype), [N, Cout, H, W], dtype);
    recordProblems(true);
    const y = await kept.read(pointwiseForward(X, Wt, G));
    const dx = await kept.read(pointwiseDgrad(DY, Wt, G, [N, Cin, H, W]));
    const dw = await kept.read(pointwiseWgrad(X, DY, G));
    const [fwd, bwd, wg, ...more] = recordProblems(false);
    const P = H * W, PV = P % 4 === 0 ? 4 : P % 2 === 0 ? 2 : 1, staged = dtype === 'f16' && PV === 1 ? 'f32' : dtype;
    assert.is(more.length, 0);
    assert.is(fwd!.key, `conv2d_pointwise.gemm ${dtype}>${staged} N${N} G${G} R${Cin / G} O${Cout / G} P${P}`);
    assert.is(bwd!.key, `conv2d_pointwise.gemm ${dtype}>${staged} N${N} G${G} R${Cout / G} O${Cin / G} P${P}`);
    assert.is(wg!.key, `conv2d_pointwise.wgrad ${dtype} N${N} G${G} M${Cout / G} K${Cin / G} P${P}`);
    const cands = fwd!.candidates() as GemmTiles[];
    assert.equal(cands[0], gemmTiles(Cout / G, (N * P) / PV, PV), 'the default first');
    assert.ok(cands.length > 8 && cands.slice(1).every((t) => t.TM * t.TPV <= 64));
    assert.ok(cands.some((t) => t.WGY), 'shared-memory tilings among them');
    for (const tiles of cands) assert.equal(Array.from(await kept.read(pointwiseForward(X, Wt, G, { tiles }))), Array.from(y), `y ${JSON.stringify(tiles)}`);
    // dgrad is the same kernel on other dimensions: the widest candidate and the second
    const dcands = bwd!.candidates() as GemmTiles[];
    for (const tiles of [dcands.at(-1)!, dcands[1]!]) assert.equal(Array.from(await kept.read(pointwiseDgrad(DY, Wt, G, [N, Cin, H, W], tiles))), Array.from(dx), `dx ${JSON.stringify(tiles)}`);
    const wcands = wg!.candidates() as WgradTiles[];
    assert.ok(wcands.length > 4);
    for (const tiles of wcands) assert.equal(Array.from(await kept.read(pointwiseWgrad(X, DY, G, tiles))), Array.from(dw), `dw ${JSON.stringify(tiles)}`);
    // a tuned entry is what the op then uses, and its result is the default's
    fwd!.keep(cands.at(-1)!, 1, 2);
    wg!.keep(wcands.at(-1)!, 1, 2);
    assert.ok(fwd!.tuned() && wg!.tuned());
    assert.equal(fwd!.current(), cands.at(-1));
    assert.equal(Array.from(await kept.read(pointwiseForward(X, Wt, G))), Array.from(y), 'tuned forward');
    assert.equal(Array.from(await kept.read(pointwiseWgrad(X, DY, G))), Array.from(dw), 'tuned wgrad');
    clearTuned();
    assert.equal(fwd!.current(), cands[0], 'no entry: the default');
    assert.ok(!fwd!.tuned());
    X.dispose(); Wt.dispose(); DY.dispose(); kept.dispose();
  }));
}

// wgrad in the gpu reduction shape: a lane's sum over its pixels and the workgroup's combine are the
// same whatever the tile (a tile decides which workgroup computes a column of dw), so every candidate
// gives the default's bits, on each subgroup path.
for (const p of REDUCTION_PATHS.filter((q) => q.red === 'gpu')) {
  test(`pointwise wgrad f32 [3, 24, 5, 6] -> 40 G=2, gpu reduction shape: every tile candidate equals the default${reductionPathName(p)}`, () => onReductionPath(p, async () => {
    const [N, Cin, Cout, H, W, G] = [3, 24, 40, 5, 6, 2];
    const rng = new Rng(77);
    const X = upload(quantize(rng.normals(N * Cin * H * W), 'f32'), [N, Cin, H, W]);
    const DY = upload(quantize(rng.normals(N * Cout * H * W), 'f32'), [N, Cout, H, W]);
    recordProblems(true);
    const dw = await kept.read(pointwiseWgrad(X, DY, G));
    const [wg, ...more] = recordProblems(false);
    assert.is(more.length, 0);
    assert.match(wg!.key, new RegExp(`^conv2d_pointwise\\.wgrad_gpu f32 N${N} G${G} M${Cout / G} K${Cin / G} P${H * W} wg64${p.sg ? ' sg' : ''}$`));
    const cands = wg!.candidates() as WgradGpuTiles[];
    assert.ok(cands.length >= 6, `${cands.length} candidates`);
    for (const tiles of cands) assert.equal(Array.from(await kept.read(pointwiseWgrad(X, DY, G, tiles))), Array.from(dw), `dw ${JSON.stringify(tiles)}`);
    X.dispose(); DY.dispose(); kept.dispose();
  }));
}

// Depthwise forward and dgrad: every output is the same 9-tap chain whatever the band tile, so every
// tile the tuner may choose gives the default's bits ([N, C, H, W], stride, shuffle groups; even output
// widths, as f16 rows of odd width run unbanded and are not tuned).
for (const [dtype, N, C, H, W, stride, G] of [['f32', 2, 24, 7, 10, 1, 3], ['f16', 2, 16, 9, 12, 2, 1], ['f32', 3, 8, 8, 8, 2, 4], ['f16', 2, 8, 5, 6, 1, 4]] as const) {
  test(`depthwise ${dtype} [${N}, ${C}, ${H}, ${W}] s${stride} G=${G}: every tile candidate equals the default, forward and dgrad`, async () => {
    const rng = new Rng(C * H + W);
    const Ho = Math.floor((H - 1) / stride) + 1, Wo = Math.floor((W - 1) / stride) + 1;
    const X = upload(quantize(rng.normals(N * C * H * W), dtype), [N, C, H, W], dtype);
    const Wt = upload(quantize(rng.normals(C * 9, 0.5), 'f32'), [C, 1, 3, 3]);
    const DY = upload(quantize(rng.normals(N * C * Ho * Wo), dtype), [N, C, Ho, Wo], dtype);
    recordProblems(true);
    const y = Array.from(await kept.read(depthwiseForward(X, Wt, stride, G)));
    const dx = Array.from(await kept.read(depthwiseDgrad(DY, Wt, [N, C, H, W], stride, G)));
    const [fwd, bwd, ...more] = recordProblems(false);
    assert.is(more.length, 0);
    assert.is(fwd!.key, `conv2d_depthwise forward ${dtype} s${stride} G${G} N${N} C${C} ${H}x${W}`);
    assert.is(bwd!.key, `conv2d_depthwise dgrad ${dtype} s${stride} G${G} N${N} C${C} ${H}x${W}`);
    for (const [p, want, run] of [[fwd!, y, (t: DepthwiseTile) => depthwiseForward(X, Wt, stride, G, t)], [bwd!, dx, (t: DepthwiseTile) => depthwiseDgrad(DY, Wt, [N, C, H, W], stride, G, t)]] as const) {
      const cands = p.candidates() as DepthwiseTile[];
      assert.ok(cands.length >= 8, `${cands.length} candidates`);
      for (const t of cands) assert.equal(Array.from(await kept.read(run(t))), want, `${p.key} ${JSON.stringify(t)}`);
      p.keep(cands.at(-1)!, 1, 2);
    }
    // the tuned tiles are what the ops then use
    assert.equal(Array.from(await kept.read(depthwiseForward(X, Wt, stride, G))), y, 'tuned forward');
    assert.equal(Array.from(await kept.read(depthwiseDgrad(DY, Wt, [N, C, H, W], stride, G))), dx, 'tuned dgrad');
    assert.ok(fwd!.tuned() && bwd!.tuned());
    clearTuned();
    X.dispose(); Wt.dispose(); DY.dispose(); kept.dispose();
  });
}

test.run();
