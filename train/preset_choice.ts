// `npm run train` without --preset: the seed preset on a GPU adapter, `fast` on a CPU adapter
// (deviceInfo().software), announced in the run's first lines with why, what it will cost here
// (timed on synthetic data: at the run's batch on a GPU, at 8 images scaled to it on a CPU, whose
// time per step grows in proportion to the images) and how to ask for the other.
import { deviceInfo, type DType } from '../engine/index.ts';
import { TRAIN_IMAGES } from './data_source.ts';
import { largestBatch, secondsPerStep } from './adapter.ts';
import { duration } from './format.ts';
import type { PresetChoice, TrainConfig } from './config.ts';

/** The lines that say which preset `--preset auto` took and why (none for an explicit --preset). */
export function choiceLines(choice: PresetChoice): string[] {
  if (!choice.auto) return [];
  const d = deviceInfo();
  return d.software
    ? [`preset fast: this adapter is a CPU (${d.description}); the seed preset (2.0x at 224x224, batch 128, 250 epochs) is sized ` +
        'for a GPU (on a 2-vCPU machine about 5 h per epoch, 52 days in all). fast trains 0.5x g=3 at 32x32 for 15 epochs. ' +
        'For the seed tutorial\'s preset anyway: --preset seed']
    : [`preset seed (the tutorial): this adapter is a GPU (${d.description}). For a small, quick run: --preset fast`];
}

/** What the run will cost here: per epoch and in all (to --max-steps if given), or why it could not be timed. */
export async function costLine(cfg: TrainConfig, dtype: DType): Promise<string> {
  const fits = largestBatch(cfg, dtype);
  if (fits < 1) return 'no estimate: one image\'s largest activation does not fit this adapter\'s largest buffer';
  const b = Math.max(1, Math.min(cfg.batchSize, fits, deviceInfo().software ? 8 : cfg.batchSize));
  let perStep: number;
  try {
    perStep = await secondsPerStep(cfg, dtype, b);
  } catch (e) {
    return `no estimate (timing steps failed: ${(e as Error).message})`;
  }
  const S = Math.max(1, Math.floor(TRAIN_IMAGES[cfg.dataset] / cfg.batchSize));
  const total = cfg.epochs * S, steps = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, total) : total;
  return `estimated ${duration(perStep * S)} per epoch (${S} steps of ${cfg.batchSize} on ${cfg.dataset}, ${(perStep * 1000).toFixed(0)} ms each, ` +
    `timed at batch ${b}${b === cfg.batchSize ? '' : ', scaled'}), ${duration(perStep * steps)} for the whole run ` +
    `(${steps < total ? `${steps} step${steps === 1 ? '' : 's'}, --max-steps` : `${cfg.epochs} epochs`}; evaluation not included)`;
}
