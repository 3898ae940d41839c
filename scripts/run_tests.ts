// Runs every tests/**/*.test.ts in one process (one GPU device) with uvu, then the compile-budget check
// over every pipeline they created; `-- PATTERN` narrows the files by path.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function find(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? find(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

// the suite never reads or writes a user's tuning cache (train/tune_cache.ts): kernels take their defaults
process.env.WG_TUNE_CACHE = join(mkdtempSync(join(tmpdir(), 'wg-tests-')), 'tuning.json');
// and training runs tune only where a test asks (--tune-seconds): kernels' choices, not their results, would change
process.env.WG_TUNE_SECONDS = '0';

const pattern = process.argv[2];
const files = find('tests').filter((f) => !pattern || f.includes(pattern));
if (!files.length) { console.error(`no test files match ${pattern}`); process.exit(1); }
(globalThis as { UVU_DEFER?: number }).UVU_DEFER = 1;
const uvu = await import('uvu');
const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
for (const [i, f] of files.entries()) {
  (globalThis as { UVU_INDEX?: number }).UVU_INDEX = i;
  queue.push([f]);
  await import(resolve(f));
}
// last: every pipeline the files above created keeps the compile budget
(globalThis as { UVU_INDEX?: number }).UVU_INDEX = files.length;
queue.push(['compile budget (every pipeline of this run)']);
await import(resolve('tests/util/compile_budget_suite.ts'));
await uvu.exec();
process.exit(process.exitCode ?? 0); // Dawn's device would keep the event loop alive
