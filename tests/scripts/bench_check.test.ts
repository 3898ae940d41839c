// The kernel benchmark's checks (scripts/bench/check.ts): every family's checks pass on this adapter;
// where a check shrinks the plane (stem and pointwise convs) the timed size then compiles no pipeline,
// i.e. runs no kernel variant that the checks did not (when this file runs alone: in a full run another
// test may have compiled one first); wrong results are caught by a CheckError naming kernel, direction,
// shapes and error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineCount, scope, sync, type DType } from '../../engine/index.ts';
import { reluForward } from '../../kernels/elementwise.ts';
import { allCases, type Case } from '../../scripts/bench/cases.ts';
import { CheckError, checkAll, checkCase, mismatch } from '../../scripts/bench/check.ts';
import { DTYPES_UNDER_TEST } from '../util/gpu.ts';

/** Per kernel, its directions: for each the first row (the model's first layer of that kind). */
function families(dtype: DType): Map<string, Case[]> {
  const out = new Map<string, Case[]>();
  for (const c of allCases(8, dtype)) {
    const had = out.get(c.kernel) ?? [];
    if (!had.some((h) => h.direction === c.direction)) out.set(c.kernel, [...had, c]);
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const dtype of DTYPES_UNDER_TEST) {
  for (const [kernel, cases] of families(dtype)) {
    test(`bench check ${dtype} ${kernel}: ${cases.map((c) => c.direction).join(', ')} match the float64 references`, async () => {
      for (const c of cases) await checkCase(c);
    });
  }
}

// Elsewhere a check differs from its row only in the batch, which no variant choice reads.
const SHRUNK = (c: Case) => c.kernel === 'stem conv' || ['8x48x56x56 -> 120 g1', '8x1920x7x7 -> 480 g3'].includes(c.shape);
test('after the stem and pointwise checks (one even, one odd plane) their timed rows compile no pipeline', async () => {
  for (const c of allCases(8, 'f32').filter(SHRUNK)) {
    await checkCase(c);
    const compiled = pipelineCount();
    const b = c.setup();
    try {
      scope(() => { b.run(); });
      await sync();
    } finally { b.dispose(); }
    assert.is(pipelineCount(), compiled, `${c.kernel} ${c.direction} ${c.shape} compiled pipelines its check at ${c.check.shape} did not`);
  }
});

const pointwise = (direction: string) => allCases(8, 'f32').find((c) => c.kernel === 'pointwise conv' && c.direction === direction)!;

test('a check given a corrupted output (two elements swapped: an index bug) fails, naming kernel, direction, shapes and error', async () => {
  const c = pointwise('forward');
  const e = await rejection(checkCase(c, (name, got) => { if (name === 'y') [got[0], got[1]] = [got[1]!, got[0]!]; }));
  assert.instance(e, CheckError);
  assert.match(e.message, new RegExp(`^pointwise conv forward at ${escape(c.check.shape)} \\(timed at ${escape(c.shape)}\\): y \\(f32\\) rel L2 \\S+, worst \\[[01]\\] got \\S+ want \\S+ .*; bound 0\\.0001$`));
  assert.ok(c.check.shape.startsWith('2x48x24x24') && c.shape.startsWith('8x48x56x56'), c.check.shape);
});

test('checkAll names the wrong kernel among good ones: a pointwise forward that applies a ReLU it should not', async () => {
  const good = pointwise('dgrad'), right = pointwise('forward');
  const wrong: Case = { ...right, check: { ...right.check, setup: () => {
    const b = right.check.setup();
    return { ...b, run: () => ({ y: reluForward(b.run().y!) }) };
  } } };
  const e = await rejection(checkAll([good, wrong]));
  assert.instance(e, CheckError);
  assert.match(e.message, /^1 of 2 kernel checks failed:\n {2}pointwise conv forward at 2x48x24x24 -> 120 g1 \(timed at 8x48x56x56 -> 120 g1\): y \(f32\) rel L2 /);
  assert.not.match(e.message, /dgrad/);
});

test('mismatch: rel-L2 and the worst element must both pass; NaN and length never do', () => {
  const want = new Float64Array(10000).fill(1);
  assert.is(mismatch(want, want, 1e-4), null);
  assert.is(mismatch(want.map((v, i) => v + (i % 2 ? 1e-5 : -1e-5)), want, 1e-4), null, 'noise within bound');
  // one element off by 5% of the peak: rel-L2 5e-4 passes the f16 bound, the worst element does not
  const edge = Float64Array.from(want); edge[9999] = 1.05;
  assert.match(mismatch(edge, want, 1e-2) ?? '', /^rel L2 5\.00e-4, worst \[9999\] got 1\.05 want 1 \(\|d\| 5\.00e-2 = 5\.00e-2·max\|want\|\); bound 0\.01$/);
  const nan = Float64Array.from(want); nan[3] = NaN;
  assert.match(mismatch(nan, want, 1e-2) ?? '', /worst \[3\] got NaN/);
  assert.is(mismatch(want.subarray(1), want, 1), '9999 elements, want 10000');
});

test.run();
