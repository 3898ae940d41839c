// `npm run bench:kernels [-- --filter S --batch N --json FILE --reps N --dtype f32|f16 --no-check]`
// Times every kernel of ShuffleNetV1 2.0x g=3 at 224x224 (the real layer sizes, batch 8 by default) per
// direction, and compares each with this adapter's ceilings, measured in the same run: peak FMA
// throughput for the compute-bound kernels (convolutions, linear), copy bandwidth for the rest.
// First every case is checked once against its float64 reference on a small instance of the same
// kernel variants (scripts/bench/check.ts); a wrong result stops the run with an error, exit status 1.
// A timed row that compiles a pipeline its check did not is warned about (a variant left unchecked).
// Method: the engine records dispatches into one pending encoder and submits on sync(); a sample is K
// calls then one sync(), divided by K (K sized so a sample takes ~SAMPLE_MS); the row is the median of
// --reps samples, after one warm-up call (pipeline compilation, buffer pool). Each call's outputs are
// dropped by a scope, so the pool hands the same buffers back and memory stays bounded.
// The ceilings are each probe's best sample, measured before and after the rows and the better kept (a
// peak the adapter reached); rows are medians, so on a loaded machine % of peak errs low. Progress goes
// to stderr, the table to stdout once both ceiling measurements are in.
// FLOP and byte conventions: scripts/bench/cases.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { initDevice, describeDevice, device, scope, sync, poolStats, capture, hasTimestamps, pipelineCount, type DType } from '../engine/index.ts';
import { reductionLine } from '../kernels/reduction_shape.ts';
import { programFlags, runMain } from '../train/flags.ts';
import { ACC, copyProbe, fmaProbe, type Probe } from './bench/ceilings.ts';
import { allCases, largestActivation, type Bench, type Case } from './bench/cases.ts';
import { CheckError, checkAll } from './bench/check.ts';

const FLAGS = {
  filter: { type: 'string', default: null, metavar: 'TEXT', help: 'only kernels whose name contains TEXT (e.g. pointwise, pool, batch norm)' },
  batch: { type: 'int', min: 1, default: 8, help: 'batch size N of every activation' },
  json: { type: 'string', default: null, metavar: 'FILE', help: 'also write {adapter, ceilings, rows} here' },
  reps: { type: 'int', min: 3, default: 9, help: 'timed samples per row (the median is reported)' },
  dtype: { type: 'choice', choices: ['f32', 'f16'], default: 'f32', help: 'activation dtype (f16: packed halves)' },
  check: { type: 'bool', default: true, help: 'check each kernel against its float64 reference before timing (--no-check skips)' },
} as const;

const SAMPLE_MS = 50;
const MAX_CALLS = 500;

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

interface Timing { ms: number; minMs: number; deviceMs?: number | null }

/** Per-call time of `work`: median (and best) of `reps` samples of K calls each. */
async function time(work: () => void, reps: number): Promise<Timing> {
  // a block body on purpose: scope() keeps what its function returns, and the outputs must return to the pool
  const run = () => scope(() => { work(); });
  run();
  await sync(); // warm-up: compiles the pipelines, fills the buffer pool
  let t0 = performance.now();
  run();
  await sync();
  const calls = Math.max(1, Math.min(MAX_CALLS, Math.round(SAMPLE_MS / (performance.now() - t0))));
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    t0 = performance.now();
    for (let k = 0; k < calls; k++) run();
    await sync();
    samples.push((performance.now() - t0) / calls);
  }
  return { ms: median(samples), minMs: Math.min(...samples) };
}

/** Median device time of one call from timestamp queries (the call captured, replayed per sample), or null. */
async function deviceTime(work: () => void, reps: number): Promise<number | null> {
  if (!hasTimestamps()) return null;
  const { step } = capture(() => scope(() => { work(); }));
  try {
    const samples: number[] = [];
    for (let r = 0; r < reps; r++) samples.push((await step.deviceMs())!);
    return median(samples);
  } finally { step.dispose(); }
}

interface Ceilings { fma_gflops: number; copy_gbps: number }

/** Both ceilings, each the best sample of its probe. */
async function measureCeilings(reps: number): Promise<Ceilings> {
  const peak = async (probe: Probe, per: (p: Probe, ms: number) => number) => {
    try {
      const t = await time(() => probe.run(), reps);
      return per(probe, t.minMs);
    } finally { probe.dispose(); }
  };
  return {
    fma_gflops: await peak(fmaProbe(), (p, ms) => p.flop / ms / 1e6),
    copy_gbps: await peak(copyProbe(), (p, ms) => p.bytes / ms / 1e6),
  };
}

interface Row {
  kernel: string; direction: string; shape: string; ms: number; gflops: number; gbps: number; pct_of_peak: number;
  bound: 'compute' | 'memory'; flop: number; bytes: number; min_ms: number;
  /** Device time from timestamp queries, where the adapter has them. */
  device_ms: number | null;
}

async function measure(c: Case, reps: number): Promise<Timing> {
  const live = poolStats().liveBytes;
  let b: Bench | null = null;
  try {
    b = c.setup();
    const bench = b;
    const t = await time(() => bench.run(), reps);
    return { ...t, deviceMs: await deviceTime(() => bench.run(), reps) };
  } finally {
    b?.dispose();
    await sync();
    // every call's outputs and scratch must have gone back to the pool, or the timing includes allocation
    const leaked = poolStats().liveBytes - live;
    if (leaked > 0) console.warn(`warning: ${c.kernel} ${c.direction} ${c.shape} left ${(leaked / 2 ** 20).toFixed(1)} MiB of tensors alive`);
  }
}

function row(c: Case, t: Timing, ceilings: Ceilings): Row {
  const gflops = c.flop / t.ms / 1e6, gbps = c.bytes / t.ms / 1e6;
  const pct = 100 * (c.bound === 'compute' ? gflops / ceilings.fma_gflops : gbps / ceilings.copy_gbps);
  return { kernel: c.kernel, direction: c.direction, shape: c.shape, ms: t.ms, gflops, gbps, pct_of_peak: pct, bound: c.bound, flop: c.flop, bytes: c.bytes, min_ms: t.minMs, device_ms: t.deviceMs ?? null };
}

const COLUMNS = [
  ['kernel', 16], ['direction', 9], ['shape', 30], ['ms', 9], ['device ms', 9], ['GFLOP/s', 8], ['GB/s', 7], ['% peak', 11], ['MFLOP', 9], ['MB', 7],
] as const;
const line = (cells: string[]) => cells.map((s, i) => (i < 3 ? s.padEnd(COLUMNS[i]![1]) : s.padStart(COLUMNS[i]![1]))).join('  ').trimEnd();
const fixed = (v: number, d: number) => v.toFixed(d);

function formatRow(r: Row): string {
  const vs = r.bound === 'compute' ? 'fma' : 'copy';
  return line([
    r.kernel, r.direction, r.shape, fixed(r.ms, 3), r.device_ms === null ? '-' : fixed(r.device_ms, 3), fixed(r.gflops, 2), fixed(r.gbps, 2), `${fixed(r.pct_of_peak, 1)}% ${vs}`,
    fixed(r.flop / 1e6, 1), fixed(r.bytes / 1e6, 2),
  ]);
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('bench:kernels', 'Usage: npm run bench:kernels -- [flags]\n\nTimes each kernel of ShuffleNetV1 2.0x g=3 at 224x224, per direction, against this adapter\'s measured FMA and copy ceilings.', FLAGS, argv);
  if (typeof p === 'number') return p;
  const v = p.values;
  const N = v.batch, dtype = v.dtype as DType;
  await initDevice();
  const limit = device().limits.maxBufferSize;
  if (largestActivation(N, dtype) > limit) {
    console.error(`bench:kernels: --batch ${N}: the stem's output (${N}x48x112x112 ${dtype}) would be ${(largestActivation(N, dtype) / 2 ** 20).toFixed(0)} MiB, over this adapter's largest buffer (${limit / 2 ** 20} MiB)`);
    return 2;
  }
  const cases = allCases(N, dtype).filter((c) => !v.filter || c.kernel.includes(v.filter));
  if (!cases.length) { console.error(`bench:kernels: --filter '${v.filter}' matches no kernel`); return 2; }

  const adapter = describeDevice(), load0 = os.loadavg()[0]!;
  // progress on stderr; the table (stdout) comes at the end, once both ceiling measurements are in
  if (v.check) {
    console.error(`checking ${cases.length} cases against the float64 references...`);
    try {
      await checkAll(cases, (s) => console.error(s));
    } catch (e) {
      if (!(e instanceof CheckError)) throw e;
      console.error(`bench:kernels: ${e.message}`);
      return 1;
    }
  }
  console.error(`measuring ceilings and ${cases.length} rows...`);
  const before = await measureCeilings(v.reps);
  const timings: Timing[] = [];
  const unchecked: string[] = [];
  for (const c of cases) {
    const compiled = pipelineCount();
    const t = await measure(c, v.reps);
    timings.push(t);
    console.error(`  ${c.kernel} ${c.direction} ${c.shape}: ${fixed(t.ms, 3)} ms`);
    if (v.check && pipelineCount() > compiled) {
      unchecked.push(`${c.kernel} ${c.direction} ${c.shape}`);
      console.error(`warning: ${c.kernel} ${c.direction} ${c.shape} compiled ${pipelineCount() - compiled} pipeline(s) its check did not: a kernel variant left unchecked`);
    }
  }
  const after = await measureCeilings(v.reps);
  // a ceiling is what the adapter can reach: the better of the two measurements (the machine's load varies)
  const ceilings: Ceilings = { fma_gflops: Math.max(before.fma_gflops, after.fma_gflops), copy_gbps: Math.max(before.copy_gbps, after.copy_gbps) };
  const rows = cases.map((c, i) => row(c, timings[i]!, ceilings));

  console.log(`adapter: ${adapter}`);
  console.log(reductionLine());
  console.log(`ShuffleNetV1 2.0x g=3, 224x224, batch ${N}, ${dtype} activations; ms = median of ${v.reps} samples (each K calls then one sync, after a warm-up call)`);
  console.log(`host: ${os.availableParallelism()} CPUs, load average ${fixed(load0, 2)} at the start, ${fixed(os.loadavg()[0]!, 2)} at the end`);
  console.log(!v.check ? 'checks: SKIPPED (--no-check): no output was compared with its float64 reference'
    : `checks: every case matched its float64 reference (tests/ref) on a small instance of the same kernel variants, before timing` +
      (unchecked.length ? `; ${unchecked.length} row(s) ran a variant the checks did not: ${unchecked.join(', ')}` : ''));
  console.log(`ceilings: FMA ${fixed(ceilings.fma_gflops, 1)} GFLOP/s (register-only, ${ACC} vec4 FMA chains per invocation; start ${fixed(before.fma_gflops, 1)}, end ${fixed(after.fma_gflops, 1)}), ` +
    `copy ${fixed(ceilings.copy_gbps, 2)} GB/s (vec4 copy of 64 MiB, read + write; start ${fixed(before.copy_gbps, 2)}, end ${fixed(after.copy_gbps, 2)})`);
  console.log('FLOP = 2·MACs for convs and linear (nominal elsewhere); MB = compulsory traffic: inputs read once, outputs written once (batch norm: x, dy twice)');
  console.log(hasTimestamps() ? 'device ms: the same call captured and replayed with a timestamp query around each dispatch (median)' : 'device ms: - (no timestamp-query on this adapter)');
  console.log('% peak: of the FMA ceiling for compute-bound kernels (convs, linear), of copy bandwidth for the memory-bound rest\n');
  console.log(line(COLUMNS.map(([h]) => h)));
  for (const r of rows) console.log(formatRow(r));
  if (v.json) {
    const report = { adapter, batch: N, dtype, reps: v.reps, checked: v.check, unchecked, ceilings, rows };
    fs.writeFileSync(v.json, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nwrote ${v.json}`);
  }
  return 0;
}

await runMain(main, { stack: true });
