// Our trainer beside the PyTorch twin (scripts/torch_twin/train.py): reads the runs' metrics (our
// --out-dir's metrics.jsonl, the twin's --out FILE; both write one "epoch" event per epoch with the same
// fields) and prints per-epoch test top-1 and loss of every run in one markdown table, then each
// trainer's final test top-1 as mean and spread over its runs; --out draws the same as a PNG with our
// plot code. Which trainer wrote a file is read from it (the twin's first line is its configuration).
//   node --import tsx scripts/torch_twin/side_by_side.ts [NAME=]FILE... [--out side_by_side.png]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { programFlags, runMain, FlagError } from '../../train/flags.ts';
import { renderComparisonPlot, type ComparedRun, type EpochRecord } from '../../train/pictures/plot.ts';
import type { Color } from '../../train/pictures/canvas.ts';

export type Trainer = 'ours' | 'twin';

export interface Run { name: string; trainer: Trainer; history: EpochRecord[] }

/** A run from its metrics file; `name` defaults to the file's folder (ours: the out dir) or its stem (the twin's). */
export function readRun(file: string, name?: string): Run {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new Error(`${file}: ${(e as Error).message}`); }
  const events = text.split('\n').filter((l) => l.trim()).map((l, i) => {
    try { return JSON.parse(l) as Record<string, unknown>; } catch { throw new Error(`${file}:${i + 1}: not a JSON line (pass our metrics.jsonl or the twin's --out file)`); }
  });
  const trainer: Trainer = events.some((e) => e.event === 'config' && e.twin === 'torch') ? 'twin' : 'ours';
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const history = events.filter((e) => e.event === 'epoch').map((e) => ({
    epoch: num(e.epoch)!, trainLoss: num(e.trainLoss) ?? NaN, trainAcc: num(e.trainTop1) ?? NaN, testLoss: num(e.testLoss), testAcc: num(e.testTop1),
  }));
  if (!history.length) throw new Error(`${file}: no "epoch" event: the run has not finished an epoch`);
  const base = path.basename(file) === 'metrics.jsonl' ? path.basename(path.dirname(path.resolve(file))) : path.basename(file).replace(/\.jsonl?$/, '');
  return { name: name ?? base, trainer, history };
}

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(2)}`);
const last = (r: Run) => r.history.at(-1)!;

/** The markdown table: one row per epoch, test top-1 (%) / test loss of every run. */
export function epochTable(runs: readonly Run[]): string {
  const epochs = [...new Set(runs.flatMap((r) => r.history.map((h) => h.epoch)))].sort((a, b) => a - b);
  const cell = (r: Run, e: number) => {
    const h = r.history.find((x) => x.epoch === e);
    return h ? `${pct(h.testAcc)} / ${h.testLoss === undefined ? '-' : h.testLoss.toFixed(4)}` : '';
  };
  return [
    `| epoch | ${runs.map((r) => `${r.name} (${r.trainer})`).join(' | ')} |`,
    `|---|${runs.map(() => '---').join('|')}|`,
    ...epochs.map((e) => `| ${e} | ${runs.map((r) => cell(r, e)).join(' | ')} |`),
  ].join('\n');
}

/** Per trainer: final test top-1 of each run, their mean and spread (max - min), in percent. */
export function finalSummary(runs: readonly Run[]): string[] {
  return (['ours', 'twin'] as const).flatMap((t) => {
    const tops = runs.filter((r) => r.trainer === t).map((r) => 100 * (last(r).testAcc ?? NaN));
    if (!tops.length) return [];
    const mean = tops.reduce((a, b) => a + b, 0) / tops.length;
    const spread = Math.max(...tops) - Math.min(...tops);
    return [`${t}: final test top-1 ${tops.map((v) => v.toFixed(2)).join(', ')} (%): mean ${mean.toFixed(2)}, spread ${spread.toFixed(2)} points over ${tops.length} run${tops.length === 1 ? '' : 's'}`];
  });
}

// ours in blues, the twin in oranges, each run a shade of its trainer's colour
const SHADES: Record<Trainer, Color[]> = {
  ours: [[31, 119, 180], [90, 160, 220], [20, 70, 120], [140, 190, 235]],
  twin: [[230, 110, 0], [245, 165, 70], [170, 70, 0], [250, 200, 130]],
};

export function comparedRuns(runs: readonly Run[]): ComparedRun[] {
  const seen: Record<Trainer, number> = { ours: 0, twin: 0 };
  return runs.map((r) => {
    const shades = SHADES[r.trainer];
    return { name: `${r.name} (${r.trainer})`, color: shades[seen[r.trainer]++ % shades.length]!, history: r.history };
  });
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('side_by_side', 'Usage: node --import tsx scripts/torch_twin/side_by_side.ts [NAME=]FILE... [--out PNG]\n\n' +
    'Per-epoch test top-1 and loss of our runs (--out-dir/metrics.jsonl) and the twin\'s (train.py --out FILE) side by side.', {
    out: { type: 'string', default: null, metavar: 'PNG', help: 'also draw test loss and top-1 per epoch of every run here' },
    title: { type: 'string', default: null, metavar: 'TEXT', help: "the picture's title" },
  }, argv, {
    positional: true,
    validate: (q) => { if (!q.positional.length) throw new FlagError('no runs given: pass metrics files, e.g. runs/ours_s1/metrics.jsonl twin_s1.jsonl'); },
  });
  if (typeof p === 'number') return p;
  const runs = p.positional.map((a) => { const m = /^([^=/]+)=(.+)$/.exec(a); return m ? readRun(m[2]!, m[1]) : readRun(a); });
  console.log(`test top-1 (%) / test loss per epoch\n\n${epochTable(runs)}\n`);
  for (const line of finalSummary(runs)) console.log(line);
  if (p.values.out) {
    renderComparisonPlot(comparedRuns(runs), { title: p.values.title ?? 'ours vs the PyTorch twin: test loss and top-1 per epoch' }).writePng(p.values.out);
    console.log(`wrote ${p.values.out}`);
  }
  return 0;
}

// run as a program; imported (tests), only the functions above
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await runMain(main);
