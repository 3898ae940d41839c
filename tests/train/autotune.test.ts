// The autotuner's loop (train/autotune.ts) on problems whose candidates take known times: the fastest
// candidate is kept only when it beats the default by more than 3%, and a time budget that ends a
// problem part-way keeps the best so far, which later tunings of the problem go on from (every run
// gets further, however small its budget) until every candidate has been timed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../util/gpu.ts';
import { choose, clearTuned, recordProblems, tunedEntries, type TuningProblem } from '../../kernels/tuning.ts';
import { tuneProblems } from '../../train/autotune.ts';

/**
 * A problem whose candidate k = {K: k} runs for ms[k] milliseconds (a busy wait), the default K = 0;
 * `lucky`: candidate k's n-th run (from 0) takes lucky(k, n) ms instead, when that is a number.
 */
function fakeProblem(name: string, ms: number[], lucky?: (k: number, n: number) => number | undefined): { problem: TuningProblem; runs: number[] } {
  const runs = ms.map(() => 0);
  recordProblems(true);
  choose({
    kernel: `fake.${name}`, shape: 'one', text: `fake ${name}`, def: { K: 0 },
    candidates: () => ms.map((_, K) => ({ K })),
    valid: (c) => Number.isSafeInteger(c.K) && c.K! >= 0 && c.K! < ms.length,
    source: () => 'source-1',
    open: () => ({
      run: (c: { K: number }) => {
        const end = performance.now() + (lucky?.(c.K, runs[c.K]!) ?? ms[c.K]!);
        runs[c.K]!++;
        while (performance.now() < end);
      },
      dispose: () => {},
    }),
  });
  const [problem] = recordProblems(false);
  return { problem: problem!, runs };
}

test('without a budget every candidate is timed; the fastest is kept only when over 3% faster than the default', async () => {
  clearTuned();
  const fast = fakeProblem('fast', [30, 45, 5, 40]);
  const slower = fakeProblem('slower', [20, 40, 60]);
  const r = await tuneProblems([fast.problem, slower.problem]);
  assert.is(r.done.length, 2);
  assert.is(r.partial, null);
  assert.is(r.left, 0);
  assert.equal(fast.problem.current(), { K: 2 });
  assert.ok(fast.problem.tuned() && fast.problem.partial() === undefined);
  assert.equal(slower.problem.current(), { K: 0 }, 'nothing faster than the default: the default stays');
  assert.ok(fast.runs.every((n) => n > 0) && slower.runs.every((n) => n > 0), 'every candidate ran');
  clearTuned();
});

test('a candidate that won its sweep by luck is timed again against the default and not kept (the winner\'s curse)', async () => {
  clearTuned();
  // candidate 1 takes 5 ms over its sweep's runs (the untimed one and up to 5 timed) and 40 ms after,
  // against the default's 30: only the rounds after the sweep see what it really costs
  const lucky = fakeProblem('lucky', [30, 40, 45], (k, n) => (k === 1 && n < 6 ? 5 : undefined));
  const real = fakeProblem('real', [30, 10, 45]);
  const r = await tuneProblems([lucky.problem, real.problem]);
  assert.equal(lucky.problem.current(), { K: 0 }, 'the lucky winner is not kept');
  assert.ok(lucky.runs[1]! > 6, `the winner was timed again (${lucky.runs[1]} runs)`);
  assert.equal(real.problem.current(), { K: 1 }, 'a real winner survives the rounds');
  const [l, t] = r.done;
  assert.ok(l!.ms === l!.defMs && l!.ms > 25, `recorded: the default's time from the rounds (${l!.ms} ms)`);
  assert.ok(t!.ms > 8 && t!.ms < 20 && t!.defMs > 25, `recorded: the rounds' medians (${t!.ms} vs ${t!.defMs} ms)`);
  clearTuned();
});

test('a budget that ends a problem part-way keeps its best so far; later tunings go on from there to the end', async () => {
  clearTuned();
  // 8 candidates of 36-60 ms but one of 5 (wide gaps: a loaded machine overshoots a busy wait by a
  // time slice), each timed over up to 250 ms: one tuning of 300 ms times 2 of them
  const ms = [60, 45, 42, 40, 38, 36, 5, 50];
  const f = fakeProblem('slow', ms);
  const other = fakeProblem('after', [5, 5]);
  const first = await tuneProblems([f.problem, other.problem], 300);
  assert.ok(first.partial, 'the budget ended the first problem part-way');
  assert.is(first.done.length, 0);
  assert.is(first.left, 2);
  assert.is(first.partial!.of, ms.length);
  let timed = first.partial!.timed;
  assert.ok(timed >= 2 && timed < ms.length, `timed ${timed}`);
  assert.is(f.runs.slice(timed).reduce((a, b) => a + b, 0), 0, 'candidates after the cut not run');
  assert.ok(!f.problem.tuned(), 'a part-way problem is not tuned');
  assert.equal(f.problem.partial(), { choice: f.problem.current(), timed });
  assert.ok(f.problem.current().K! >= 1 && f.problem.current().K! < timed, `best so far: ${JSON.stringify(f.problem.current())}`);
  assert.is(tunedEntries().get('fake.slow one')!.timed, timed, 'what a cache would save');
  // a budget too small for anything still times one new candidate per tuning: every run gets further
  for (let round = 0; round < ms.length && !f.problem.tuned(); round++) {
    const before = f.runs.slice(), best = f.problem.current().K!;
    const r = await tuneProblems([f.problem, other.problem], 1);
    const next = r.partial?.timed ?? ms.length;
    assert.ok(next > timed, `round ${round}: ${timed} -> ${next}`);
    assert.ok(f.runs[timed]! > before[timed]!, `round ${round}: candidate ${timed} timed`);
    for (let k = 1; k < timed; k++) if (k !== best) assert.is(f.runs[k], before[k], `round ${round}: candidate ${k}, timed before and not the best so far, is not timed again`);
    assert.ok(f.runs[best]! > before[best]!, `round ${round}: the best so far (${best}) is timed again beside the default`);
    timed = next;
  }
  assert.ok(f.problem.tuned(), 'every candidate timed in the end');
  assert.equal(f.problem.current(), { K: 6 });
  assert.is(tunedEntries().get('fake.slow one')!.timed, undefined);
  clearTuned();
});

test('a part-way tuning over another candidate list starts over', async () => {
  clearTuned();
  const ms = [60, 45, 42, 40, 38, 36, 5, 50];
  const a = fakeProblem('list', ms);
  const r = await tuneProblems([a.problem], 1);
  assert.is(r.partial?.timed, 2);
  assert.is(fakeProblem('list', ms).problem.partial()?.timed, 2, 'the same list goes on');
  assert.is(fakeProblem('list', [...ms, 20]).problem.partial()?.timed, 1, 'a candidate more: the count means nothing, start over');
  clearTuned();
});

test.run();
