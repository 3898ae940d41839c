// What this adapter can run and what a run costs on it: the activation dtype, whether it is a CPU
// (software) adapter, the largest batch one of its buffers holds and the micro-batch a step runs in
// (train/micro_batch.ts), and on a CPU adapter the seed preset's cost (timed before the run, and
// measured again in its first steps).
import { deviceInfo, fmt, numel, type DType } from '../engine/index.ts';
import { summary } from '../model/summary.ts';
import { TRAIN_IMAGES } from './data_source.ts';
import { timeSteps } from './step_timing.ts';
import { duration } from './format.ts';
import { autoChoiceLine, chooseMicroBatch, type LargestActivation, type TensorLimits } from './micro_batch.ts';
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

/** The model's biggest activation for one image (the stem's output at 224x224): which, and its bytes. */
export function largestActivation(cfg: TrainConfig, dtype: DType): LargestActivation {
  const s = summary({ size: cfg.modelSize, group: cfg.group, classes: 10, stem: cfg.stem, imageSize: cfg.imageSize });
  const row = s.rows.reduce((a, r) => (numel(r.out) > numel(a.out) ? r : a));
  return { name: `${row.name} output ${fmt(row.out)} ${dtype}`, bytes: numel(row.out) * (dtype === 'f32' ? 4 : 2) };
}

/** This adapter's limits on one tensor. */
export const limitsHere = (): TensorLimits => ({ binding: deviceInfo().limits.maxStorageBufferBindingSize, buffer: deviceInfo().limits.maxBufferSize });

/** The largest batch whose biggest activation fits one of the adapter's buffers (bound in windows past the binding limit). */
export const largestBatch = (cfg: TrainConfig, dtype: DType): number =>
  Math.floor(deviceInfo().limits.maxBufferSize / largestActivation(cfg, dtype).bytes);

/**
 * Images per forward/backward pass on this adapter (train/micro_batch.ts): --micro-batch, or the whole
 * batch, or (said in one line) the largest divisor of it that fits. Refuses, before any data is loaded,
 * a --micro-batch that does not divide the batch or fit, and a model of which not even one image fits.
 * The seed preset on a CPU adapter also gets its cost, timed here: it runs for months there.
 */
export async function chooseMicroBatchHere(cfg: TrainConfig, dtype: DType, log: (s: string) => void): Promise<number> {
  const largest = largestActivation(cfg, dtype), limits = limitsHere();
  const choice = chooseMicroBatch(cfg.batchSize, cfg.microBatch, largest, limits);
  if (choice.auto) log(autoChoiceLine(cfg.batchSize, choice, largest, limits));
  if (wantsCpuEstimate(cfg, deviceInfo().software)) {
    log(await cpuEstimate(cfg, dtype, choice.micro, log).catch((t: Error) => `(could not time steps for an estimate of the seed preset's cost here: ${t.message})`));
  }
  return choice.micro;
}

/**
 * Whether to time the seed preset before it runs: on a CPU adapter, where a step of it takes minutes
 * and the run months, so the first line says so (RunEstimate measures it again in the first steps).
 */
export const wantsCpuEstimate = (cfg: TrainConfig, software: boolean): boolean => cfg.preset === 'seed' && software;

/**
 * Seconds per step of `cfg` here, timed on synthetic data with `batch` images (a few steps, after an
 * eager and a captured one) and scaled to cfg's batch in proportion, as a CPU's time per step grows.
 */
export async function secondsPerStep(cfg: TrainConfig, dtype: DType, batch: number): Promise<number> {
  const ms = await timeSteps({ size: cfg.modelSize, group: cfg.group, imageSize: cfg.imageSize, batch, stem: cfg.stem, train: true, dtype }, { iters: 2, warmup: 2 });
  return (Math.min(...ms) * cfg.batchSize) / batch / 1000;
}

/**
 * What the seed preset will cost on this CPU adapter: steps of at most 8 images (and at most one
 * micro-batch, `micro`) are timed and scaled to the batch.
 */
async function cpuEstimate(cfg: TrainConfig, dtype: DType, micro: number, log: (s: string) => void): Promise<string> {
  const b = Math.min(8, micro);
  log(`timing a few ${b}-image steps to estimate the seed preset's cost on this CPU adapter...`);
  const perStep = await secondsPerStep(cfg, dtype, b);
  const S = Math.floor(TRAIN_IMAGES[cfg.dataset] / cfg.batchSize);
  const steps = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, S * cfg.epochs) : S * cfg.epochs;
  return `On this CPU adapter (${deviceInfo().description}) a step of ${cfg.batchSize} images will take about ${duration(perStep)} ` +
    `(timed at batch ${b}, scaled): about ${duration(perStep * S)} per epoch of ${S} step${S === 1 ? '' : 's'}, ${duration(perStep * S * cfg.epochs)} for ${cfg.epochs} epochs` +
    `${steps < S * cfg.epochs ? ` (${duration(perStep * steps)} for the ${steps} step${steps === 1 ? '' : 's'} of --max-steps)` : ''}. ` +
    'Training goes on; for a run sized for a CPU, use --preset fast.';
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
      `${duration((msPerStep * stepsPerEpoch * cfg.epochs) / 1000)} for ${cfg.epochs} epochs` +
      `${stopAt > step && stopAt < stepsPerEpoch * cfg.epochs ? ` (${duration((msPerStep * (stopAt - step)) / 1000)} more to --max-steps ${stopAt})` : ''}; for a run sized for a CPU, try --preset fast`;
  }
}
