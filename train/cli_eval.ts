// `npm run eval -- --checkpoint FILE`: loss, top-1 and top-5 accuracy on the test set, printed as the
// seed prints them and appended to eval_log.txt:
//   result:{'Loss': 1.0217913215673422, 'Top_1_Acc': 0.8152, 'Top_5_Acc': 0.975}, ckpt:'./shufflenetv1-250_391.ckpt', time: 0h 0m 21s
// A non-finite loss (weights loaded with --allow-nonfinite, or overflowing) exits 1 and is not appended.
import * as fs from 'node:fs';
import { describeDevice, initDevice } from '../engine/index.ts';
import { FlagError, programFlags, runMain } from './flags.ts';
import { INFERENCE_FLAGS, loadForInference, nonFiniteResult } from './inference.ts';
import { hms, pyFloat } from './format.ts';
import { loadDataset } from './data_source.ts';
import { evaluate } from './evaluate.ts';
import { progressBar } from './data/progress.ts';
import { resolvePrecision } from './adapter.ts';
import { useTuneCache } from './tune_cache.ts';

const FLAGS = {
  ...INFERENCE_FLAGS,
  'batch-size': { type: 'int', min: 1, default: 128, help: 'images per batch (every test image is used, the last batch may be partial)' },
  'label-smoothing': { type: 'number', min: 0, max: 1, default: 0.1, help: "the loss's label smoothing (the seed evaluates with 0.1)" },
  limit: { type: 'int', min: 0, default: 0, help: 'evaluate only the first N test images (0: all)' },
  log: { type: 'string', default: 'eval_log.txt', metavar: 'FILE', help: 'the result line is appended here' },
} as const;

const USAGE = 'Usage: npm run eval -- --checkpoint FILE [flags]\n\nEvaluates a checkpoint on the test set (loss, top-1, top-5) and appends the result to eval_log.txt.';

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run eval', USAGE, FLAGS, argv, {
    validate: (q) => { if (!q.values.checkpoint) throw new FlagError('--checkpoint: missing (the checkpoint to evaluate)'); },
  });
  if (typeof p === 'number') return p;
  const v = p.values;
  await initDevice();
  console.log(`adapter: ${describeDevice()}`);
  useTuneCache((l) => console.log(l));
  const s = await loadForInference(v, p.explicit);
  try {
    const test = await loadDataset(s.dataset, 'test', { dataDir: s.dataDir, downloadUrl: s.downloadUrl });
    const c = s.model.config;
    console.log(`model size is ${c.size} (g=${c.group}, ${c.stem} stem, ${s.imageSize}x${s.imageSize}); ${test.name}: ${v.limit ? Math.min(v.limit, test.count) : test.count} images`);
    const bar = progressBar({ label: 'eval', total: v.limit ? Math.min(v.limit, test.count) : test.count });
    const r = await evaluate(s.model, test, {
      batchSize: v['batch-size'], imageSize: s.imageSize, dtype: resolvePrecision(s.precision), smoothing: v['label-smoothing'],
      ...(v.limit ? { limit: v.limit } : {}), onProgress: (n) => bar.update(n),
    });
    bar.done();
    const line = `result:{'Loss': ${pyFloat(r.loss)}, 'Top_1_Acc': ${pyFloat(r.top1)}, 'Top_5_Acc': ${pyFloat(r.top5)}}, ckpt:'${v.checkpoint}', time: ${hms(r.seconds)}`;
    console.log(line);
    if (![r.loss, r.top1, r.top5].every(Number.isFinite)) { console.error(nonFiniteResult('the loss')); return 1; } // not logged as a result
    fs.appendFileSync(v.log!, line + '\n');
    console.log(`appended to ${v.log}`);
  } finally {
    s.model.dispose();
  }
  return 0;
}

await runMain(main);
