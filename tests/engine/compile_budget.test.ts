// The compile-budget check that scripts/run_tests.ts applies to every pipeline of a run: it must name
// a pipeline that took too long or whose WGSL is too big (a check that passed everything would let an
// exponential unrolling blowup through), and judge by the smaller of wall and CPU time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_PIPELINE_MS, MAX_WGSL_CHARS, overBudget } from '../util/compile_budget.ts';

const cost = (ms: number, cpuMs: number, wgslChars = 1000) => ({ ms, cpuMs, wgslChars });

test('overBudget names slow and oversized pipelines, and passes the rest', () => {
  const costs = new Map([
    ['fast', cost(100, 90)],
    ['slow', cost(MAX_PIPELINE_MS + 5000, MAX_PIPELINE_MS + 4000)],
    ['loaded machine', cost(MAX_PIPELINE_MS * 3, 800)], // long wall time, short compile: not over
    ['busy GPU', cost(900, MAX_PIPELINE_MS * 2)], // CPU time of other work: not over
    ['big', cost(10, 10, MAX_WGSL_CHARS + 1)],
    ['no CPU clock', cost(MAX_PIPELINE_MS + 1, 0)],
  ]);
  const out = overBudget(costs);
  assert.is(out.length, 3, out.join('\n'));
  assert.match(out[0]!, /^slow: /);
  assert.match(out[1]!, /^big: .* WGSL characters/);
  assert.match(out[2]!, /^no CPU clock: /);
});

test.run();
