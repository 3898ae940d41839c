// The side by side of our trainer and the PyTorch twin (scripts/torch_twin/side_by_side.ts): which
// trainer wrote a metrics file, the per-epoch table, each trainer's mean and spread of final test top-1,
// and the picture (one line per run, in its trainer's shade).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { comparedRuns, epochTable, finalSummary, readRun } from '../../scripts/torch_twin/side_by_side.ts';
import { renderComparisonPlot } from '../../train/pictures/plot.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'side-by-side-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const epoch = (e: number, top1: number, loss: number) => ({ event: 'epoch', epoch: e, step: 10 * e, trainLoss: 1.5, trainTop1: 0.7, testLoss: loss, testTop1: top1 });
function write(file: string, lines: object[]): string {
  const p = path.join(dir, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return p;
}

const ours1 = write('ours_s1/metrics.jsonl', [{ event: 'step', step: 1, loss: 2 }, epoch(1, 0.80, 0.9), { event: 'eval', epoch: 2 }, epoch(2, 0.85, 0.7)]);
const ours2 = write('ours_s2/metrics.jsonl', [epoch(1, 0.81, 0.88), epoch(2, 0.86, 0.68)]);
const twin1 = write('twin_s1.jsonl', [{ event: 'config', twin: 'torch', seed: 1 }, epoch(1, 0.82, 0.86), epoch(2, 0.865, 0.66)]);

test('a run: the trainer read from the file, named after our out dir or the twin\'s file, its epochs', () => {
  const o = readRun(ours1), t = readRun(twin1), n = readRun(ours2, 'second');
  assert.equal([o.name, o.trainer, o.history.length, o.history[1]!.testAcc], ['ours_s1', 'ours', 2, 0.85]);
  assert.equal([t.name, t.trainer, t.history[0]!.testLoss], ['twin_s1', 'twin', 0.86]);
  assert.is(n.name, 'second');
  assert.throws(() => readRun(write('empty.jsonl', [{ event: 'step', step: 1 }])), /empty\.jsonl: no "epoch" event: the run has not finished an epoch/);
  assert.throws(() => readRun(path.join(dir, 'missing.jsonl')), /missing\.jsonl: ENOENT/);
  fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"event": "epoch"\n');
  assert.throws(() => readRun(path.join(dir, 'bad.jsonl')), /bad\.jsonl:1: not a JSON line/);
});

test('the table has a row per epoch; the summary gives each trainer\'s final top-1, mean and spread', () => {
  const runs = [readRun(ours1), readRun(ours2), readRun(twin1)];
  assert.is(epochTable(runs), [
    '| epoch | ours_s1 (ours) | ours_s2 (ours) | twin_s1 (twin) |',
    '|---|---|---|---|',
    '| 1 | 80.00 / 0.9000 | 81.00 / 0.8800 | 82.00 / 0.8600 |',
    '| 2 | 85.00 / 0.7000 | 86.00 / 0.6800 | 86.50 / 0.6600 |',
  ].join('\n'));
  assert.equal(finalSummary(runs), [
    'ours: final test top-1 85.00, 86.00 (%): mean 85.50, spread 1.00 points over 2 runs',
    'twin: final test top-1 86.50 (%): mean 86.50, spread 0.00 points over 1 run',
  ]);
});

test('the picture draws every run in its own shade of its trainer\'s colour', () => {
  const compared = comparedRuns([readRun(ours1), readRun(ours2), readRun(twin1)]);
  assert.is(new Set(compared.map((c) => c.color.join())).size, 3);
  const canvas = renderComparisonPlot(compared);
  for (const c of compared) {
    let n = 0;
    for (let y = 72; y < canvas.height; y++) for (let x = 0; x < canvas.width; x++) if (canvas.getPixel(x, y).slice(0, 3).join() === c.color.join()) n++;
    assert.ok(n > 50, `${c.name}: ${n} pixels of its colour in the panels`);
  }
});

test.run();
