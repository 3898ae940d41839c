// Tuned kernel choices (kernels/tuning.ts) and the pointwise GEMM's tuning hooks: a tuned entry is used
// only for the kernel source it was measured on and only when the kernel accepts it; every candidate the
// tuner may choose computes the default's result, bit for bit (a tile decides which invocation computes
// a sum, not its order), so tuning can change speed and never a result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, type DType } from '../../engine/index.ts';
import { chooseGemmTiles, gemmCandidates, gemmTiles, pointwiseDgrad, pointwiseForward, recordGemmShapes, setGemmTiles, type GemmShape } from '../../kernels/conv2d_pointwise.ts';
import { clearTuned, loadTuned, setTuned, sourceHash, tunedChoice, tunedEntries } from '../../kernels/tuning.ts';
import { upload, download, quantize } from '../util/gpu.ts';

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
  test(`pointwise GEMM ${dtype} [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} G=${G}: every tuning candidate equals the default (forward; dgrad: two); a tuned entry is used`, async () => {
    const rng = new Rng(Cin * Cout);
    const X = upload(quantize(rng.normals(N * Cin * H * W), dtype), [N, Cin, H, W], dtype);
    const Wt = upload(quantize(rng.normals(Cout * (Cin / G), 0.5), 'f32'), [Cout, Cin / G, 1, 1]);
    const DY = upload(quantize(rng.normals(N * Cout * H * W), dtype), [N, Cout, H, W], dtype);
    recordGemmShapes(true);
    const y = await download(pointwiseForward(X, Wt, G));
    const dx = await download(pointwiseDgrad(DY, Wt, G, [N, Cin, H, W]));
    const [fwd, bwd] = recordGemmShapes(false) as [GemmShape, GemmShape];
    assert.equal(fwd, { x: dtype, y: dtype === 'f16' && (H * W) % 2 === 1 ? 'f32' : dtype, N, G, R: Cin / G, O: Cout / G, P: H * W });
    assert.is(bwd.O, Cin / G);
    const cands = gemmCandidates(fwd);
    assert.equal(cands[0], gemmTiles(fwd.O, (N * H * W) / (fwd.P % 4 === 0 ? 4 : fwd.P % 2 === 0 ? 2 : 1), fwd.P % 4 === 0 ? 4 : fwd.P % 2 === 0 ? 2 : 1), 'the default first');
    assert.ok(cands.length > 8 && cands.slice(1).every((t) => t.TM * t.TPV <= 64));
    for (const tiles of cands) assert.equal(Array.from(await download(pointwiseForward(X, Wt, G, { tiles }))), Array.from(y), `y ${JSON.stringify(tiles)}`);
    // dgrad is the same kernel on other dimensions: its default and the widest candidates
    for (const tiles of [gemmCandidates(bwd).at(-1)!, gemmCandidates(bwd)[1]!]) assert.equal(Array.from(await download(pointwiseDgrad(DY, Wt, G, [N, Cin, H, W], tiles))), Array.from(dx), `dx ${JSON.stringify(tiles)}`);
    // a tuned entry is what the op then uses, and its result is the default's
    const pick = cands.at(-1)!;
    setGemmTiles(fwd, pick, 1, 2);
    assert.equal(chooseGemmTiles(fwd), pick);
    assert.equal(Array.from(await download(pointwiseForward(X, Wt, G))), Array.from(y), 'tuned forward');
    clearTuned();
    assert.equal(chooseGemmTiles(fwd), cands[0], 'no entry: the default');
    X.dispose(); Wt.dispose(); DY.dispose();
  });
}

test.run();
