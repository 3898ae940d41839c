// What this adapter can run and what a run costs on it: the activation dtype, whether it is a CPU
// (software) adapter, the largest batch its storage binding limit holds, and on a CPU adapter the
// seed preset's cost (estimated before refusing a batch that does not fit, or measured in the first
// steps of a run).
import { deviceInfo, type DType } from '../engine/index.ts';
import { summary } from '../model/summary.ts';
import { TRAIN_IMAGES } from './data_source.ts';
import { timeSteps } from './step_timing.ts';
import { duration } from './format.ts';
import type { Precision, TrainConfig } from './config.ts';

/**
 * The activation dtype: `auto` is f16 on a GPU with shader-f16 (native f16 storage halves the memory
 * traffic) and f32 elsewhere: without shader-f16 f16 is packed halves, and on CPU adapters even native
 * f16 ran the training step no faster than f32 (BENCHMARKS.md, "f16 on a CPU adapter").
 */
export function resolvePrecision(p: Precision, info: { shaderF16: boolean; software: boolean } = deviceInfo()): DType {
  if (p !== 'auto') return p === 'fp16' ? 'f16' : 'f32';
  return info.shaderF16 && !info.software ? 'f16' : 'f32';
}

/** Why `--precision auto` chose what it did, in a few words. */
export function precisionReason(info: { shaderF16: boolean; software: boolean } = deviceInfo()): string {
  if (!info.shaderF16) return 'no shader-f16: f16 would be packed halves, slower than f32';
  return info.software ? 'a CPU adapter: native f16 measured no faster than f32 there' : 'shader-f16 on a GPU: native f16 halves the memory traffic';
}

/** Bytes per image of the model's biggest activation (the stem's output at 224x224). */
function largestActivation(cfg: TrainConfig, dtype: DType): number {
  const s = summary({ size: cfg.modelSize, group: cfg.group, classes: 10, stem: cfg.stem, imageSize: cfg.imageSize });
  return Math.max(...s.rows.map((r) => r.out.reduce((a, b) => a * b, 1))) * (dtype === 'f32' ? 4 : 2);
}

/** The largest batch whose biggest activation fits the adapter's storage binding limit. */
export const largestBatch = (cfg: TrainConfig, dtype: DType): number =>
  Math.floor(deviceInfo().limits.maxStorageBufferBindingSize / largestActivation(cfg, dtype));

/**
 * Every activation is bound whole, so the largest one must fit the adapter's storage binding limit:
 * fail before loading data, naming the batch that would fit.
 */
export function checkBatchFits(cfg: TrainConfig, dtype: DType): void {
  const fits = largestBatch(cfg, dtype);
  if (cfg.batchSize <= fits) return;
  const limit = deviceInfo().limits.maxStorageBufferBindingSize;
  const mib = (largestActivation(cfg, dtype) * cfg.batchSize) / 2 ** 20;
  throw new Error(`--batch-size ${cfg.batchSize}: the largest activation (${cfg.modelSize} g=${cfg.group} at ${cfg.imageSize}x${cfg.imageSize}, ${dtype}) would be ` +
    `${mib.toFixed(0)} MiB, over this adapter's ${(limit / 2 ** 20).toFixed(0)} MiB storage binding limit; ` +
    `use --batch-size ${fits} or less${deviceInfo().software ? ', or --preset fast (sized for a CPU adapter)' : ''}`);
}

/** checkBatchFits; when the seed preset is refused on a CPU adapter, the refusal also says what it would cost here. */
export async function checkBatchFitsOrEstimate(cfg: TrainConfig, dtype: DType, log: (s: string) => void): Promise<void> {
  try {
    checkBatchFits(cfg, dtype);
  } catch (e) {
    const fits = largestBatch(cfg, dtype);
    if (cfg.preset !== 'seed' || !deviceInfo().software || fits < 1) throw e;
    const estimate = await cpuEstimate(cfg, dtype, fits, log).catch((t: Error) => `(could not time steps for an estimate: ${t.message})`);
    throw new Error(`${(e as Error).message}\n${estimate}`);
  }
}

/**
 * Seconds per step of `cfg` here, timed on synthetic data with `batch` images (a few steps, after an
 * eager and a captured one) and scaled to cfg's batch in proportion, as a CPU's time per step grows.
 */
export async function secondsPerStep(cfg: TrainConfig, dtype: DType, batch: number): Promise<number> {
  const ms = await timeSteps({ size: cfg.modelSize, group: cfg.group, imageSize: cfg.imageSize, batch, stem: cfg.stem, train: true, dtype }, { iters: 2, warmup: 2 });
  return (Math.min(...ms) * cfg.batchSize) / batch / 1000;
}

/**
 * What the seed preset would cost on this CPU adapter, when its batch cannot even run here: steps of
 * a batch that fits (at most 8 images; `fits`, at least 1, is the largest) are timed and scaled.
 */
async function cpuEstimate(cfg: TrainConfig, dtype: DType, fits: number, log: (s: string) => void): Promise<string> {
  const b = Math.min(8, fits);
  log(`timing a few ${b}-image steps to estimate the seed preset's cost on this CPU adapter...`);
  const perStep = await secondsPerStep(cfg, dtype, b);
  const S = Math.floor(TRAIN_IMAGES[cfg.dataset] / cfg.batchSize);
  return `On this CPU adapter (${deviceInfo().description}) a step of ${cfg.batchSize} images would take about ${duration(perStep)} ` +
    `(timed at batch ${b}, scaled): about ${duration(perStep * S)} per epoch of ${S} step${S === 1 ? '' : 's'}, ${duration(perStep * S * cfg.epochs)} for ${cfg.epochs} epochs. ` +
    'For a run sized for a CPU, use --preset fast.';
}

/**
 * The seed preset's cost when its batch does fit a CPU adapter: timed from the first replayed steps
 * (start()), reported once after a few of them (line()), so a long run says early what it will take.
 */
export class RunEstimate {
  private from: { at: number; step: number } | null = null;
  private done = false;

  /** Timing starts at `step` (the GPU is idle: the eager and captured steps are done). */
  start(step: number): void { this.from = { at: performance.now(), step }; }

  /** Seconds per replayed step so far (NaN before one has been timed). */
  secondsPerStep(step: number): number {
    return this.from && step > this.from.step ? (performance.now() - this.from.at) / 1000 / (step - this.from.step) : NaN;
  }

  /** Once, after min(logEvery, 5) timed steps: the estimate line (seed preset on a CPU adapter), else null. */
  line(step: number, cfg: TrainConfig, stepsPerEpoch: number, stopAt: number): string | null {
    if (this.done || !this.from || step - this.from.step < Math.min(cfg.logEvery, 5)) return null;
    this.done = true;
    const msPerStep = (performance.now() - this.from.at) / (step - this.from.step);
    if (cfg.preset !== 'seed' || !deviceInfo().software) return null;
    return `estimated ${duration((msPerStep * stepsPerEpoch) / 1000)} per epoch (${msPerStep.toFixed(0)} ms/step) on this CPU adapter (${deviceInfo().description}), ` +
      `${duration((msPerStep * (stopAt - step)) / 1000)} for the whole run; for a run sized for a CPU, try --preset fast`;
  }
}
