// Imported by scripts/run_tests.ts after every test file: the pipelines the whole run created, each
// within the compile budget (tests/util/compile_budget.ts). Set COMPILE_BUDGET_LOG=1 to print the
// slowest.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineCosts } from '../../engine/index.ts';
import { MAX_PIPELINE_MS, MAX_WGSL_CHARS, overBudget } from './compile_budget.ts';

test(`every pipeline this run created: under ${MAX_PIPELINE_MS / 1000} s to create, under ${MAX_WGSL_CHARS} WGSL characters`, () => {
  const costs = pipelineCosts();
  if (process.env.COMPILE_BUDGET_LOG) {
    const rows = [...costs].sort((a, b) => b[1].cpuMs - a[1].cpuMs);
    const total = (f: (c: (typeof rows)[number][1]) => number) => (rows.reduce((a, [, c]) => a + f(c), 0) / 1000).toFixed(1);
    console.log(`${rows.length} pipelines, ${total((c) => c.cpuMs)} s CPU, ${total((c) => c.ms)} s wall in all; slowest:`);
    for (const [k, c] of rows.slice(0, 8)) console.log(`  ${k} ${c.cpuMs.toFixed(0)} ms CPU, ${c.ms.toFixed(0)} ms wall, ${c.wgslChars} chars`);
  }
  assert.equal(overBudget(costs), [], 'pipelines over the compile budget');
});

test.run();
