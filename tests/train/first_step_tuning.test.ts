// Tuning inside a training run (train/first_step_tuning.ts): the problems step 1 dispatched without a
// cached choice are tuned within --tune-seconds and saved; and whatever the choices, the run's numbers
// are the same bits (every candidate sums in the default's order), which is what lets a run tune
// between its first and second step, and a resumed run differ in its choices, without changing a result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { clearTuned, recordProblems, tunedEntries } from '../../kernels/tuning.ts';
import { train } from '../../train/trainer.ts';
import { readCheckpoint } from '../../train/checkpoint_io.ts';
import { adapterKey } from '../../train/tune_cache.ts';
import { syntheticDataset } from './synthetic_data.ts';
import { tinyConfigFor } from './tiny_config.ts';
import { firstBitDifference } from './bits.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'first-step-tuning-'));
const data = { train: syntheticDataset(24, 7), test: null };
const cfg = (dir: string, tuneSeconds: number) =>
  tinyConfigFor(path.join(root, dir), { batchSize: 8, epochs: 2, warmupEpochs: 1, maxSteps: 4, logEvery: 2, evalEvery: 0, tuneSeconds });


test('a run with every tunable kernel on a non-default choice ends with the same bits as the default run', async () => {
  clearTuned();
  recordProblems(true);
  const plain = await train(cfg('plain', 0), { progress: false, log: () => {}, datasets: data });
  const problems = recordProblems(false);
  assert.ok(problems.length > 20, `GEMM and wgrad problems recorded: ${problems.length}`);
  assert.ok(problems.some((p) => p.key.startsWith('conv2d_pointwise.wgrad ')));
  // the last candidate of each: for GEMMs the shared-memory kernel where the device takes it
  for (const p of problems) p.keep(p.candidates().at(-1)!, 1, 2);
  assert.ok(problems.every((p) => p.tuned()));
  const tuned = await train(cfg('tuned', 0), { progress: false, log: () => {}, datasets: data });
  clearTuned();
  const a = await readCheckpoint(plain.checkpoint!), b = await readCheckpoint(tuned.checkpoint!);
  assert.is(a.state.size + a.momenta.size, b.state.size + b.momenta.size);
  const diff = firstBitDifference('state', a.state, b.state) ?? firstBitDifference('momentum', a.momenta, b.momenta);
  assert.is(diff, null, `default (first) and tuned (second) runs differ: ${diff}`);
});

test('the trainer tunes the problems step 1 dispatched within --tune-seconds, saves them, and the next run tunes only the rest', async () => {
  clearTuned();
  const before = process.env.WG_TUNE_CACHE;
  const file = path.join(root, 'cache', 'tuning.json');
  process.env.WG_TUNE_CACHE = file;
  try {
    const runLines = async (dir: string, seconds: number) => {
      const lines: string[] = [];
      const t0 = performance.now();
      const r = await train(cfg(dir, seconds), { progress: false, log: (l) => lines.push(l), datasets: data });
      assert.is(r.reason, 'max-steps');
      return { lines: lines.filter((l) => l.startsWith('tuning: ')), s: (performance.now() - t0) / 1000 };
    };
    const first = await runLines('first', 4);
    assert.is(first.lines.length, 2, first.lines.join('\n'));
    const [, total] = first.lines[0]!.match(/^tuning: (\d+) kernel problems have no cached choice for this adapter; timing their variants for up to 4 s before the second step/)!;
    const m = first.lines[1]!.match(/^tuning: (\d+) of (\d+) tuned in \d+ s, (\d+) away from the default \([\d.]+ ms with the defaults, [\d.]+ ms tuned \([\d.]+x\)\)(; .+ part-way \((\d+) of (\d+) candidates timed; a later run goes on from there\))?(; (\d+) keep the default until a later run tunes them)?/);
    assert.ok(m, first.lines[1]);
    console.log(`  ${first.lines[1]} (run: ${first.s.toFixed(1)} s)`);
    const done = Number(m![1]), partWay = m![4] ? 1 : 0, left = partWay + Number(m![8] ?? 0);
    assert.is(Number(m![2]), Number(total));
    assert.is(done + left, Number(total));
    assert.is(tunedEntries().size, done + partWay, 'each tuned problem has an entry, and the one tuned part-way');
    if (done + partWay > 0) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { adapters: Record<string, Record<string, unknown>> };
      assert.is(Object.keys(saved.adapters[adapterKey()]!).length, done + partWay, 'saved at once');
    }
    // the tuned problems are not timed again: the next run asks only about the rest (none when all were done)
    const second = await runLines('second', 0.001);
    if (left === 0) assert.is(second.lines.length, 0, second.lines.join('\n'));
    else assert.match(second.lines[0]!, new RegExp(`^tuning: ${left} kernel problem`));
    // --tune-seconds 0: no tuning, no line
    clearTuned();
    assert.is((await runLines('off', 0)).lines.length, 0);
  } finally {
    if (before === undefined) delete process.env.WG_TUNE_CACHE; else process.env.WG_TUNE_CACHE = before;
    clearTuned();
  }
});

test.run();
