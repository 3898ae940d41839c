// Dynamic loss scaling inside the trainer (train(), fp16 activations, --dynamic-loss-scale) with a short
// --loss-scale-window, so the scale's growth is exercised in a run: the final checkpoint's loss-scale
// state ({dynamic, scale, goodSteps}) and the skip lines the trainer logs are checked against the host
// model of the rule (tests/ref/sgd.ts lossScaleRef: halve and restart the count on Inf/NaN gradients,
// double after `window` clean steps in a row).
// Catches: a scale that never grows (window ignored, or the default 2000 used), one that grows every
// step (a counter not reset after doubling, or compared against the wrong bound), a clean-step counter
// not reset after an overflow (the next doubling comes early), an overflow that does not halve the
// scale, and a window not recorded in the checkpoint's configuration. The flag's own rules (an integer
// >= 1, refused without a dynamic scale, kept and overridable on resume) are checked first.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { train } from '../../train/trainer.ts';
import { readCheckpoint, writeCheckpointFile } from '../../train/checkpoint_io.ts';
import { parseTrainArgs, resumedConfig, type TrainConfig } from '../../train/config.ts';
import { LOSS_SCALE_DEFAULTS } from '../../kernels/sgd.ts';
import type { TrainingRecord } from '../../train/resume.ts';
import { lossScaleRef, type LossScaleState } from '../ref/sgd.ts';
import { syntheticDataset } from './synthetic_data.ts';
import { tinyConfigFor } from './tiny_config.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loss-scale-trainer-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

const throws = (f: () => unknown): string => { try { f(); } catch (e) { return (e as Error).message; } return '(no error)'; };

test('--loss-scale-window: an integer >= 1 (default 2000), refused without a dynamic scale, kept on resume', () => {
  assert.is(parseTrainArgs([]).config.lossScaleWindow, 2000);
  assert.is(LOSS_SCALE_DEFAULTS.interval, 2000, 'the flag\'s default is the optimizer\'s');
  assert.is(parseTrainArgs(['--dynamic-loss-scale', '--loss-scale-window', '3']).config.lossScaleWindow, 3);
  assert.is(throws(() => parseTrainArgs(['--dynamic-loss-scale', '--loss-scale-window', '0'])), "--loss-scale-window: expected an integer >= 1, got '0'");
  // a fixed scale never grows: a window given with it would be silently ignored
  assert.is(throws(() => parseTrainArgs(['--loss-scale-window', '3'])),
    '--loss-scale-window: only applies with --dynamic-loss-scale; add --dynamic-loss-scale, or drop --loss-scale-window');
  // on --resume the checkpoint decides whether the scale is dynamic
  const now = parseTrainArgs(['--resume', '--loss-scale-window', '3']);
  const saved = (o: Partial<TrainConfig>): TrainConfig => ({ ...parseTrainArgs(['--dynamic-loss-scale', '--loss-scale-window', '7']).config, ...o });
  assert.is(resumedConfig(saved({}), now.config, now.explicit).lossScaleWindow, 3, 'an explicit window replaces the checkpoint\'s');
  assert.is(resumedConfig(saved({}), parseTrainArgs(['--resume']).config, new Set()).lossScaleWindow, 7, 'the checkpoint\'s window is kept');
  assert.is(throws(() => resumedConfig(saved({ dynamicLossScale: false }), now.config, now.explicit)),
    "--loss-scale-window: only applies with --dynamic-loss-scale (the checkpoint's run uses a fixed loss scale); add --dynamic-loss-scale, or drop --loss-scale-window");
  // a checkpoint from before the flag existed takes this invocation's value
  const { lossScaleWindow: _, ...old } = saved({});
  assert.is(resumedConfig(old as TrainConfig, parseTrainArgs(['--resume']).config, new Set()).lossScaleWindow, 2000);
});

/** A short fp16 run with a dynamic loss scale (`over` on top): its log, the skip lines in it and the final checkpoint and record. */
async function run(name: string, over: Partial<TrainConfig>, explicit = new Set<string>()) {
  const lines: string[] = [];
  // 32 images in batches of 8: 4 steps an epoch; every step read back, so every skip is logged at its step
  const cfg = tinyConfigFor(path.join(root, name), { precision: 'fp16', dynamicLossScale: true, batchSize: 8, logEvery: 1, evalEvery: 0, ...over });
  const r = await train(cfg, { log: (s) => lines.push(s), progress: false, explicit, datasets: { train: syntheticDataset(32, 2), test: null } });
  assert.is(r.reason, 'max-steps', r.message ?? r.reason);
  assert.is(r.steps, cfg.maxSteps);
  const record = (await readCheckpoint(r.checkpoint!)).training as TrainingRecord;
  const window = r.config.lossScaleWindow;
  assert.is(record.config.lossScaleWindow, window, 'the window is in the checkpoint\'s configuration');
  assert.ok(lines.some((l) => l.includes(`(dynamic: halved on Inf/NaN gradients, doubled after ${window} clean steps)`)), 'the run\'s description names the window');
  const skips = lines.map((l) => /^\s*step (\d+): (\d+) update\(s\) skipped for Inf\/NaN gradients; loss scale now (\S+)$/.exec(l)).filter((m) => m !== null)
    .map((m) => ({ step: Number(m[1]), count: Number(m[2]), scale: Number(m[3]) }));
  assert.ok(skips.every((s) => s.count === 1), `one skipped update per skip line (one step per read-back): ${JSON.stringify(skips)}`);
  return { skips, record, checkpoint: r.checkpoint! };
}

type Skip = Awaited<ReturnType<typeof run>>['skips'][number];

/**
 * The host model from `from` (the state before step `first`) to step `last`, overflowing at the
 * skipped steps; checks the scale each skip line reports and returns the states after each step.
 */
function checkAgainstModel(from: LossScaleState, window: number, first: number, last: number, skips: readonly Skip[]): LossScaleState[] {
  const c = { ...LOSS_SCALE_DEFAULTS, interval: window };
  const overflows = new Set(skips.map((s) => s.step));
  const out: LossScaleState[] = [];
  let s = from;
  for (let k = first; k <= last; k++) out.push((s = lossScaleRef(s, overflows.has(k), c)));
  for (const k of skips) assert.is(k.scale, out[k.step - first]!.scale, `scale after the overflow at step ${k.step}: skips ${JSON.stringify(skips)}`);
  return out;
}

test('a scale small enough for every gradient doubles every --loss-scale-window clean steps', async () => {
  const START = 2 ** 8, WINDOW = 3, STEPS = 7;
  const { skips, record } = await run('grows', { lossScale: START, lossScaleWindow: WINDOW, epochs: 3, maxSteps: STEPS });
  assert.equal(skips, [], 'no overflow at this scale');
  // 7 clean steps, window 3: doubled after steps 3 and 6, one clean step since
  assert.equal(record.lossScale, { dynamic: true, scale: START * 2 ** Math.floor(STEPS / WINDOW), goodSteps: STEPS % WINDOW });
});

test('a scale too high halves on each overflow (the update skipped) and grows again after clean steps', async () => {
  // measured on OpenGL and Vulkan llvmpipe: overflows at steps 1, 2, 3 (2^20 -> 2^17), then four times
  // 2^17 doubles after two clean steps and 2^18 overflows at once (steps 6, 9, 12, 15); on OpenGL 2^17
  // overflows too at step 16 (ends at 2^16, count 0), on Vulkan not (2^17, count 1)
  const START = 2 ** 20, WINDOW = 2, STEPS = 16;
  const { skips, record } = await run('falls-then-grows', { lossScale: START, lossScaleWindow: WINDOW, epochs: 5, maxSteps: STEPS });
  const seen = JSON.stringify(skips);
  assert.ok(skips.length >= 1 && skips[0]!.step === 1, `the first step overflows at 2^20: skips ${seen}`);
  const model = checkAgainstModel({ scale: START, good: 0 }, WINDOW, 1, STEPS, skips);
  assert.equal(record.lossScale, { dynamic: true, scale: model.at(-1)!.scale, goodSteps: model.at(-1)!.good }, `final state vs the host model; skips ${seen}`);
  // the comparison saw growth: a doubling after an overflow
  assert.ok(model.some((s, i) => i > 0 && i + 1 > skips[0]!.step && s.scale > model[i - 1]!.scale), `the scale grew again after an overflow: skips ${seen}`);
});

test('an overflow restarts the clean-step count (resumed two clean steps into the window, at a scale that overflows)', async () => {
  // a doubled scale that overflows does so with the count at 0 already, so a run rarely overflows
  // with clean steps counted; the state is set so: 2 clean steps of a window of 3 at 2^8, then the
  // checkpoint's scale raised to 2^20 (the next gradients overflow) with its count kept
  const WINDOW = 3, SPLIT = 2, STEPS = 10;
  const first = await run('restart', { lossScale: 2 ** 8, lossScaleWindow: WINDOW, epochs: 4, maxSteps: SPLIT });
  assert.equal(first.record.lossScale, { dynamic: true, scale: 2 ** 8, goodSteps: SPLIT });
  const ck = await readCheckpoint(first.checkpoint);
  const from = { scale: 2 ** 20, good: SPLIT };
  await writeCheckpointFile(first.checkpoint, { ...ck, training: { ...ck.training!, lossScale: { dynamic: true, scale: from.scale, goodSteps: from.good } } });
  // measured on OpenGL and Vulkan llvmpipe: overflows at steps 3, 4, 5 (2^20 -> 2^17), doubled after
  // step 8, overflow at 9; a count not restarted at step 3 would have doubled after step 6 instead
  const { skips, record } = await run('restart', { resume: first.checkpoint, maxSteps: STEPS }, new Set(['max-steps']));
  const seen = JSON.stringify(skips);
  assert.ok(skips.length >= 1 && skips[0]!.step === SPLIT + 1, `the resumed run's first step overflows at 2^20: skips ${seen}`);
  const model = checkAgainstModel(from, WINDOW, SPLIT + 1, STEPS, skips);
  assert.equal(record.lossScale, { dynamic: true, scale: model.at(-1)!.scale, goodSteps: model.at(-1)!.good }, `final state vs the host model; skips ${seen}`);
  // a count left at 2 would double after the first clean step: the run must have had one
  assert.ok(skips.length < STEPS - SPLIT, `a clean step after the overflow: skips ${seen}`);
});

test.run();
