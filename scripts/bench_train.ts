// `npm run bench:train [-- --filter S --json FILE --iters N --warmup N --torch]`
// Times whole training steps on synthetic CIFAR-shaped data: host batch -> upload -> GPU augment ->
// forward -> loss -> backward -> SGD update (and a forward-only inference case), exactly the
// trainer's step (train/step.ts) replayed from a capture as the trainer does. Check before timing:
// the warm-up steps must give a finite loss. Reported: median wall time per step (host work,
// upload and GPU work until the queue is idle) and images/s. With --torch, each case is then timed
// in PyTorch on the CPU (the twin, scripts/torch_twin/bench_step.py, 2 threads) right after ours, in
// the same sitting, and the ratio printed: the peer a CPU adapter competes with on the same cores.
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeDevice, initDevice, type CapturedStep } from '../engine/index.ts';
import { timeSteps } from '../train/step_timing.ts';
import { reductionLine } from '../kernels/reduction_shape.ts';
import { programFlags, runMain } from '../train/flags.ts';
import { resolvePrecision } from '../train/adapter.ts';
import { useTuneCache } from '../train/tune_cache.ts';
import type { ModelSize, Group, Stem } from '../model/architecture.ts';

interface Case { name: string; size: ModelSize; group: Group; image: number; batch: number; stem: Stem; train: boolean; fold?: boolean }

const CASES: Case[] = [
  { name: '(a) train 2.0x g=3 224x224 batch 8', size: '2.0x', group: 3, image: 224, batch: 8, stem: 'imagenet', train: true },
  { name: '(b) train 1.0x g=3 32x32 batch 128', size: '1.0x', group: 3, image: 32, batch: 128, stem: 'imagenet', train: true },
  { name: '(c) train 0.5x g=8 224x224 batch 16', size: '0.5x', group: 8, image: 224, batch: 16, stem: 'imagenet', train: true },
  { name: '(d) forward 2.0x g=3 224x224 batch 32', size: '2.0x', group: 3, image: 224, batch: 32, stem: 'imagenet', train: false },
  { name: '(e) train 0.5x g=3 32x32 cifar stem batch 128 (--preset fast)', size: '0.5x', group: 3, image: 32, batch: 128, stem: 'cifar', train: true },
  { name: '(f) forward as (d), batch norm folded (npm run eval)', size: '2.0x', group: 3, image: 224, batch: 32, stem: 'imagenet', train: false, fold: true },
];

const FLAGS = {
  filter: { type: 'string', default: null, metavar: 'TEXT', help: 'only cases whose name contains TEXT (e.g. "(a)" or "224")' },
  json: { type: 'string', default: null, metavar: 'FILE', help: 'also write {adapter, rows: [{config, ms, images_per_s}]} here' },
  iters: { type: 'int', min: 1, default: 5, help: 'timed steps per case (the median is reported)' },
  warmup: { type: 'int', min: 2, default: 3, help: 'untimed steps first (eager, capture, replay)' },
  precision: { type: 'choice', choices: ['auto', 'fp16', 'fp32'], default: 'auto', help: 'activations' },
  profile: { type: 'int', min: 0, default: 0, metavar: 'N', help: 'after timing, run one step a kernel at a time and print the N costliest kernels' },
  tuned: { type: 'bool', default: true, help: 'use this adapter\'s tuned kernel choices from the tuning cache (npm run tune); --no-tuned: the default heuristics' },
  torch: { type: 'bool', default: false, help: 'also time each case in PyTorch on the CPU (2 threads, /usr/bin/python3 with python3-torch) and print ours / PyTorch' },
} as const;

interface Row { config: string; ms: number; images_per_s: number; min_ms: number; torch_ms?: number; ratio?: number }

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

const TORCH_HINT = '--torch needs Python 3 with PyTorch (Debian: apt-get install python3-torch; another interpreter: PYTHON=...)';

/** Fails before any timing when --torch cannot run PyTorch here. */
function checkTorch(): void {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${PYTHON} cannot import torch (${r.error ? r.error.message : r.stderr.trim().split('\n').at(-1)}); ${TORCH_HINT}`);
}

/** Median ms per step of the same case in PyTorch CPU (scripts/torch_twin/bench_step.py). */
function torchMs(c: Case, iters: number, warmup: number): number {
  const args = [fileURLToPath(new URL('./torch_twin/bench_step.py', import.meta.url)), '--size', c.size, '--group', String(c.group), '--image', String(c.image), '--batch', String(c.batch),
    '--stem', c.stem, c.train ? '--train' : '--forward', '--iters', String(iters), '--warmup', String(warmup), '--threads', '2'];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim().split('\n').slice(-3).join('\n');
    throw new Error(`${c.name}: PyTorch timing failed (${PYTHON} ${args.join(' ')}): ${why}\n${TORCH_HINT}`);
  }
  return median((JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ms: number[] }).ms);
}

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

/** Per-kernel totals of one step run a command at a time, costliest first. */
async function printProfile(step: CapturedStep, top: number): Promise<void> {
  const rows = await step.profile();
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const by = new Map<string, { ms: number; n: number }>();
  for (const r of rows) {
    const key = `${r.op} ${r.kernel}`;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += r.ms; e.n++;
    by.set(key, e);
  }
  const clock = rows[0]?.clock === 'device' ? 'device time from timestamp queries' : 'wall time, one command per submit';
  console.log(`  profile: ${rows.length} commands, ${total.toFixed(1)} ms (${clock})`);
  for (const [k, e] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(`  ${e.ms.toFixed(1).padStart(9)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  x${String(e.n).padEnd(4)} ${k}`);
  }
}

async function bench(c: Case, iters: number, warmup: number, precision: 'auto' | 'fp16' | 'fp32', profile = 0): Promise<Row> {
  const ms = await timeSteps({ size: c.size, group: c.group, imageSize: c.image, batch: c.batch, stem: c.stem, train: c.train, fold: c.fold, dtype: resolvePrecision(precision) },
    { iters, warmup, inspect: profile > 0 ? (step) => printProfile(step, profile) : undefined })
    .catch((e: Error) => { throw new Error(`${c.name}: ${e.message}`); });
  const m = median(ms);
  return { config: c.name, ms: m, images_per_s: (c.batch * 1000) / m, min_ms: Math.min(...ms) };
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('bench:train', 'Usage: npm run bench:train -- [flags]\n\nTimes whole training steps on synthetic data.', FLAGS, argv);
  if (typeof p === 'number') return p;
  const v = p.values;
  if (v.torch) checkTorch();
  await initDevice();
  const adapter = describeDevice();
  console.log(`adapter: ${adapter}`);
  console.log(reductionLine());
  if (v.tuned) useTuneCache((l) => console.log(l));
  else console.log('tuning: not used (--no-tuned): kernels use their default choices');
  const cases = CASES.filter((c) => !v.filter || c.name.includes(v.filter));
  if (!cases.length) { console.error(`bench:train: --filter '${v.filter}' matches no case`); return 2; }
  const rows: Row[] = [];
  const w = Math.max(...cases.map((c) => c.name.length));
  console.log(`${'config'.padEnd(w)}  ${'ms/step'.padStart(10)}  ${'min ms'.padStart(10)}  ${'images/s'.padStart(9)}${v.torch ? `  ${'PyTorch ms'.padStart(10)}  ${'ours/PyTorch'.padStart(12)}` : ''}`);
  for (const c of cases) {
    const r = await bench(c, v.iters, v.warmup, v.precision as 'auto' | 'fp16' | 'fp32', v.profile);
    if (v.torch) { r.torch_ms = torchMs(c, v.iters, v.warmup); r.ratio = r.ms / r.torch_ms; }
    rows.push(r);
    console.log(`${r.config.padEnd(w)}  ${r.ms.toFixed(1).padStart(10)}  ${r.min_ms.toFixed(1).padStart(10)}  ${r.images_per_s.toFixed(1).padStart(9)}` +
      (r.torch_ms !== undefined ? `  ${r.torch_ms.toFixed(1).padStart(10)}  ${r.ratio!.toFixed(2).padStart(12)}` : ''));
  }
  if (v.json) {
    fs.writeFileSync(v.json, JSON.stringify({ adapter, precision: resolvePrecision(v.precision as 'auto'), rows: rows.map(({ config, ms, images_per_s, torch_ms, ratio }) => ({ config, ms, images_per_s, ...(torch_ms !== undefined ? { torch_ms, ratio } : {}) })) }, null, 2) + '\n');
    console.log(`wrote ${v.json}`);
  }
  return 0;
}

await runMain(main, { stack: true });
