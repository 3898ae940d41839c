// One training run's state, shared by the parts of train(): the data, the sampler and the
// augmentation RNG, the model and its optimizer, the per-step tensors the host rewrites before every
// step, the output files, and the progress a checkpoint records (step, epoch history, the unfinished
// epoch's metrics). Everything that changes per step lives in tensors created here, before the
// capture, so a replayed step sees it (train/step.ts): the batch's pixels, crop parameters and labels
// in one set of tensors per micro-batch, each written from its slice of the batch the host prepared
// (the sampler and the RNG draw whole batches, whatever the micro-batch).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, Tensor, type DType, type RngState } from '../engine/index.ts';
import { byteTensor, writeBytes, PARAMS } from '../kernels/augment.ts';
import { STATS } from '../kernels/step_metrics.ts';
import { ShuffleNetV1 } from '../model/shufflenet.ts';
import { BatchSampler, copyBatch, sampleSize, type ImageDataset, type SamplerState } from './data/dataset.ts';
import { trainGeometry, trainTransforms, type TrainOpts } from './data/transforms.ts';
import type { EpochRecord } from './pictures/plot.ts';
import type { Schedule } from './schedule.ts';
import type { MicroBatchInputs, StepShape, StepTensors } from './step.ts';
import { Sgd } from './sgd.ts';
import { withPath } from './fs_errors.ts';
import { precisionReason } from './adapter.ts';
import type { TrainConfig } from './config.ts';

/** The host's share of one step, made while the GPU runs the previous one; the sampler and RNG states before it (for a checkpoint taken before it runs). */
export interface Batch { params: Float32Array; epoch: number; batch: number; samplerBefore: SamplerState; rngBefore: RngState }

export class Session {
  /** Images per step. */
  readonly N: number;
  /** Images per forward/backward pass (a divisor of N; N: one pass per step). */
  readonly M: number;
  /** Steps per epoch. */
  readonly S: number;
  readonly totalSteps: number;
  /** The step after which this run stops (--max-steps, else totalSteps). */
  readonly stopAt: number;
  readonly schedule: Schedule;
  readonly sampler: BatchSampler;
  /** A stream of its own, so the shuffle (seeded by cfg.seed in the sampler) and the crops are independent. */
  readonly augRng: Rng;
  readonly model: ShuffleNetV1;
  readonly opt: Sgd;
  readonly t: StepTensors;
  readonly shape: StepShape;
  readonly files: { metrics: string; plot: string };

  // progress (a checkpoint records it; resume restores it)
  step = 0;
  history: EpochRecord[] = [];
  readonly epochStats = new Float64Array(STATS);
  /** performance.now() when the unfinished epoch began (earlier by its recorded seconds on resume). */
  epochStart: number;
  lastCheckpoint: string | null = null;

  private readonly geometry: TrainOpts;
  private readonly host: { images: Uint8Array; labels: Uint8Array; labelsF: Float32Array };

  /** `fresh`: a new run (not a resume) starts metrics.jsonl empty. `micro`: images per pass (train/adapter.ts chooseMicroBatchHere). */
  constructor(readonly cfg: TrainConfig, readonly dtype: DType, readonly trainSet: ImageDataset, readonly testSet: ImageDataset | null,
    readonly log: (line: string) => void, fresh: boolean, micro = cfg.microBatch || cfg.batchSize) {
    const N = (this.N = cfg.batchSize), M = (this.M = micro);
    if (N % M !== 0) throw new Error(`--batch-size ${N} is not a multiple of the micro-batch ${M}`);
    this.sampler = new BatchSampler({ count: trainSet.count, batchSize: N, seed: cfg.seed });
    const S = (this.S = this.sampler.batchesPerEpoch);
    if (S === 0) throw new Error(`--batch-size ${N} is larger than the ${trainSet.count} training images`);
    this.totalSteps = cfg.epochs * S;
    this.stopAt = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, this.totalSteps) : this.totalSteps;
    this.schedule = { baseLr: cfg.lr, minLr: cfg.minLr, warmupEpochs: cfg.warmupEpochs, epochs: cfg.epochs, stepsPerEpoch: S, granularity: cfg.lrGranularity };
    this.geometry = trainGeometry(trainSet, cfg.imageSize, cfg.flip);
    this.augRng = new Rng((cfg.seed ^ 0x5eed_a06) >>> 0);

    this.model = new ShuffleNetV1({ size: cfg.modelSize, group: cfg.group, classes: trainSet.classes.length, imageSize: cfg.imageSize, stem: cfg.stem, seed: cfg.seed });
    this.opt = new Sgd(this.model.parameters(), { lossScale: cfg.lossScale, dynamic: cfg.dynamicLossScale && { interval: cfg.lossScaleWindow } });

    const size = sampleSize(trainSet);
    const passes: MicroBatchInputs[] = Array.from({ length: N / M }, () => ({ src: byteTensor(M * size), params: Tensor.empty([M, PARAMS]), labels: Tensor.empty([M]) }));
    this.t = { ...passes[0]!, more: passes.slice(1), scale: this.opt.scale, stats: Tensor.zeros([STATS]) };
    this.shape = {
      dims: { N: M, C: trainSet.channels, H: trainSet.height, W: trainSet.width },
      imageSize: cfg.imageSize, dtype, mean: trainSet.mean, std: trainSet.std, smoothing: cfg.labelSmoothing,
    };
    this.host = { images: new Uint8Array(N * size), labels: new Uint8Array(N), labelsF: new Float32Array(N) };

    // --out-dir exists (train/out_dir.ts)
    this.files = { metrics: path.join(cfg.outDir, 'metrics.jsonl'), plot: path.join(cfg.outDir, 'training.png') };
    if (fresh) withPath('write', this.files.metrics, () => fs.writeFileSync(this.files.metrics, ''));
    this.epochStart = performance.now();
  }

  /** The next batch's images and labels (into host buffers) and its crop parameters. */
  prepare(): Batch {
    const samplerBefore = this.sampler.state(), rngBefore = this.augRng.getState();
    const idx = this.sampler.next() ?? this.sampler.next()!;
    copyBatch(this.trainSet, idx, this.host.images, this.host.labels);
    return { params: trainTransforms(this.augRng, this.N, this.geometry), epoch: this.sampler.epoch, batch: this.sampler.batch, samplerBefore, rngBefore };
  }

  /** Write a prepared batch and this step's hyper-parameters into the step's tensors (ordered before its GPU work). */
  upload(b: Batch, lr: number): void {
    const { M } = this, size = this.host.images.length / this.N;
    this.host.labelsF.set(this.host.labels);
    this.passes().forEach((m, k) => {
      writeBytes(m.src, this.host.images.subarray(k * M * size, (k + 1) * M * size));
      m.labels.write(this.host.labelsF.subarray(k * M, (k + 1) * M));
      m.params.write(b.params.subarray(k * M * PARAMS, (k + 1) * M * PARAMS));
    });
    this.opt.setHyper(lr, this.cfg.momentum, this.cfg.weightDecay);
  }

  /** One JSON line of metrics.jsonl. */
  writeMetrics(o: Record<string, unknown>): void {
    withPath('append to', this.files.metrics, () => fs.appendFileSync(this.files.metrics, JSON.stringify(o) + '\n'));
  }

  /** The run's one-line description, logged before the first step. */
  describe(): string {
    const { cfg, dtype, trainSet, N, S } = this;
    return `model ShuffleNetV1 ${cfg.modelSize} g=${cfg.group} ${cfg.stem} stem, ${cfg.imageSize}x${cfg.imageSize}, ${dtype} activations` +
      `${cfg.precision === 'auto' ? ` (auto: ${precisionReason()})` : ''}; ` +
      `${trainSet.name}: ${trainSet.count} images, ${S} steps of ${N}` +
      `${this.M < N ? ` (each ${N / this.M} micro-batches of ${this.M}: gradients accumulated into one update, batch-norm statistics per micro-batch)` : ''}` +
      ` per epoch, ${cfg.epochs} epochs` +
      `${this.stopAt < this.totalSteps ? ` (stopping after step ${this.stopAt})` : ''}; lr ${cfg.lr} -> ${cfg.minLr}, ${cfg.warmupEpochs} warm-up epochs; ` +
      `loss scale ${cfg.lossScale}${cfg.dynamicLossScale ? ` (dynamic: halved on Inf/NaN gradients, doubled after ${cfg.lossScaleWindow} clean steps)` : ''}`;
  }

  /** Every micro-batch's input tensors, in order. */
  private passes(): MicroBatchInputs[] { return [this.t, ...(this.t.more ?? [])]; }

  dispose(): void {
    for (const m of this.passes()) for (const x of [m.src, m.params, m.labels]) x.dispose();
    this.t.stats.dispose();
    this.opt.dispose();
    this.model.dispose();
  }
}
