// `npm run tune -- [train flags, e.g. --preset fast]`: the autotuner. Runs one training pass of the
// configuration `npm run train` would run with the same flags (its model, image size, micro-batch and
// precision) to record the kernel problems it dispatches, then times each problem's candidate variants
// on this adapter and keeps the fastest in the tuning cache (train/tune_cache.ts), which training,
// evaluation and bench:train read. A candidate must beat the default heuristic by more than 3% to
// replace it, so tuning is never slower than the default beyond noise. Tuned today: the pointwise
// (1x1 group) convolution's GEMM (forward and input gradient: register or shared-memory tiles, workgroup
// shape) and its weight gradient (dW tile, workgroup width); the depthwise convolution's forward and
// input gradient (band tile).
import { Rng, Tensor, backward, describeDevice, deviceInfo, initDevice, scope, sync } from '../engine/index.ts';
import { choiceText, recordProblems } from '../kernels/tuning.ts';
import { sum } from '../kernels/reduce.ts';
import { ShuffleNetV1 } from '../model/shufflenet.ts';
import { parseTrainArgs } from '../train/config.ts';
import { largestActivation, limitsHere, resolvePrecision } from '../train/adapter.ts';
import { chooseMicroBatch } from '../train/micro_batch.ts';
import { loadTuneCache, saveTuneCache, tuneCachePath } from '../train/tune_cache.ts';
import { runMain, FlagError } from '../train/flags.ts';
import { tunedTotals, tuneProblems } from '../train/autotune.ts';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('Usage: npm run tune -- [--max-problems N] [train flags]\n\nTimes the kernel variants of the run `npm run train` would make with the same flags ' +
      `(e.g. --preset fast) on this adapter and keeps the fastest in the tuning cache (${tuneCachePath()}; set WG_TUNE_CACHE to move it).`);
    return 0;
  }
  // --max-problems N (tune's own flag; the rest are the train flags): only the first N problems, to bound the time
  const at = argv.indexOf('--max-problems');
  const maxProblems = at < 0 ? Infinity : Number(argv[at + 1]);
  if (!(Number.isSafeInteger(maxProblems) && maxProblems > 0) && maxProblems !== Infinity) { console.error(`tune: --max-problems needs a positive integer, got ${argv[at + 1] ?? 'nothing'}`); return 2; }
  const trainArgs = at < 0 ? argv : [...argv.slice(0, at), ...argv.slice(at + 2)];
  const info = await initDevice();
  let parsed;
  try { parsed = parseTrainArgs(trainArgs, info); } catch (e) { if (e instanceof FlagError) { console.error(`tune: ${e.message}`); return 2; } throw e; }
  const cfg = parsed.config;
  console.log(`adapter: ${describeDevice()}`);
  const kept = loadTuneCache((w) => console.warn(w));
  const dtype = resolvePrecision(cfg.precision);
  const micro = chooseMicroBatch(cfg.batchSize, cfg.microBatch, largestActivation(cfg, dtype), limitsHere()).micro;
  console.log(`tuning ${cfg.modelSize} g=${cfg.group} ${cfg.stem} stem at ${cfg.imageSize}x${cfg.imageSize}, ${micro} images a pass, ${dtype}; ${kept} entries already cached`);

  // the problems one training pass dispatches (forward and backward), recorded with the current choices
  recordProblems(true);
  scope(() => {
    const m = new ShuffleNetV1({ size: cfg.modelSize, group: cfg.group, classes: 10, imageSize: cfg.imageSize, stem: cfg.stem });
    const x = Tensor.from(new Rng(1).normals(micro * 3 * cfg.imageSize ** 2), [micro, 3, cfg.imageSize, cfg.imageSize], dtype);
    backward(sum(m.forward(x)));
    m.dispose();
  });
  await sync();
  const all = recordProblems(false), problems = all.slice(0, maxProblems);
  console.log(`${all.length} kernel problems${problems.length < all.length ? `, the first ${problems.length} tuned (--max-problems)` : ''}; timing up to ${Math.max(...problems.map((p) => p.candidates().length))} candidates each`);

  const report = await tuneProblems(problems, Infinity, ({ problem, def, defMs, chosen, ms }) => {
    console.log(`  ${problem.text.padEnd(56)} default ${choiceText(def).padEnd(24)} ${defMs.toFixed(3).padStart(8)} ms -> ${choiceText(chosen).padEnd(24)} ${ms.toFixed(3).padStart(8)} ms` +
      `${chosen === def ? '' : ` (${(defMs / ms).toFixed(2)}x)`}`);
    if (choiceText(problem.current()) !== choiceText(chosen)) throw new Error(`the tuned choice for ${problem.text} is not the one used`);
  });
  saveTuneCache();
  console.log(`kernel problems of one pass: ${tunedTotals(report).text}; tuned in ${report.seconds.toFixed(0)} s on ${deviceInfo().description}; saved to ${tuneCachePath()}`);
  return 0;
}

await runMain(main);
