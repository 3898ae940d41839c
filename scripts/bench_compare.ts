// `npm run bench:compare -- A.json B.json ...`: the reports `bench:kernels --json` wrote (one per adapter
// or dtype), side by side: each kernel row's median ms in every report (device ms from timestamp queries
// in brackets where measured), and each report's ceilings. Rows are matched by kernel, direction and
// shape; a row missing from a report shows '-'. Ratios are left to the reader's column of choice, so
// reports from different sittings are never divided by this script.
import * as fs from 'node:fs';
import { programFlags, runMain, FlagError } from '../train/flags.ts';

interface Report {
  adapter: string; batch: number; dtype: string; reps: number;
  ceilings: { fma_gflops: number; copy_gbps: number };
  rows: { kernel: string; direction: string; shape: string; ms: number; device_ms: number | null }[];
}

function load(path: string): Report {
  let r: Report;
  try {
    r = JSON.parse(fs.readFileSync(path, 'utf8')) as Report;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message} (pass files written by npm run bench:kernels -- --json FILE)`);
  }
  if (!Array.isArray(r.rows) || typeof r.adapter !== 'string') throw new Error(`${path}: not a bench:kernels --json report (no adapter or rows)`);
  return r;
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run bench:compare', 'Usage: npm run bench:compare -- A.json B.json ...\n\nbench:kernels --json reports side by side.', {}, argv, {
    positional: true,
    validate: (q) => { if (!q.positional.length) throw new FlagError('no reports given: pass one or more files written by npm run bench:kernels -- --json FILE'); },
  });
  if (typeof p === 'number') return p;
  const reports = p.positional.map(load);
  const key = (r: Report['rows'][number]) => `${r.kernel}|${r.direction}|${r.shape}`;
  const keys = [...new Set(reports.flatMap((r) => r.rows.map(key)))];
  reports.forEach((r, i) => console.log(`[${i + 1}] ${r.adapter}; ${r.dtype}, batch ${r.batch}, median of ${r.reps}; FMA ${r.ceilings.fma_gflops.toFixed(1)} GFLOP/s, copy ${r.ceilings.copy_gbps.toFixed(2)} GB/s`));
  console.log('ms per call (device ms in brackets where the adapter has timestamp-query)\n');
  const cell = (r: Report, k: string) => {
    const row = r.rows.find((x) => key(x) === k);
    return !row ? '-' : row.device_ms === null ? row.ms.toFixed(2) : `${row.ms.toFixed(2)} [${row.device_ms.toFixed(2)}]`;
  };
  const head = ['kernel'.padEnd(16), 'direction'.padEnd(9), 'shape'.padEnd(30), ...reports.map((_, i) => `[${i + 1}]`.padStart(17))];
  console.log(head.join('  ').trimEnd());
  for (const k of keys) {
    const [kernel, direction, shape] = k.split('|') as [string, string, string];
    console.log([kernel.padEnd(16), direction.padEnd(9), shape.padEnd(30), ...reports.map((r) => cell(r, k).padStart(17))].join('  ').trimEnd());
  }
  return 0;
}

await runMain(main);
