// The training loop: epochs of steps (train/step.ts), the lr per step (train/schedule.ts), metrics
// read back every few steps, a progress bar per epoch and a summary line, metrics as JSON lines, a
// PNG plot redrawn each epoch, a checkpoint per epoch (the seed's names, newest 5 kept), exact
// resume, Ctrl-C, and NaN handling.
//
// Step 1 runs eagerly (it creates the momentum buffers), step 2 runs while being captured, and every
// later step replays the capture after the host has written the next batch into the same input
// tensors. The host prepares batch k+1 (gather, random crops) while the GPU runs step k, and waits
// for the GPU only when it reads the metrics back (every --log-every steps and at epoch ends).
//
// Resume is exact: a checkpoint holds the weights, BN statistics and momenta (model/checkpoint.ts),
// and a training record with the sampler position, the augmentation RNG state, the global step (so
// the lr schedule continues where it was), the loss-scale state, the partial epoch's metrics and the
// per-epoch history; N steps + save + resume + N steps equals 2N steps.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, Tensor, capture, deviceInfo, sync, type CapturedStep, type DType, type RngState } from '../engine/index.ts';
import { byteTensor, writeBytes, PARAMS } from '../kernels/augment.ts';
import { ShuffleNetV1 } from '../model/shufflenet.ts';
import { summary } from '../model/summary.ts';
import { loadCheckpoint, readCheckpoint, saveCheckpoint } from '../model/checkpoint.ts';
import { BatchSampler, copyBatch, sampleSize, type ImageDataset, type SamplerState } from './data/dataset.ts';
import { progressBar, type ProgressBar } from './data/progress.ts';
import { plotTraining, type EpochRecord } from './pictures/plot.ts';
import { loadDataset, trainGeometry, trainParams, TRAIN_IMAGES } from './data_source.ts';
import { timeSteps } from './step_timing.ts';
import { lrAt, type Schedule } from './schedule.ts';
import { trainStep, type StepShape, type StepTensors } from './step.ts';
import { STATS, addStats, decodeStats } from './step_metrics.ts';
import { evaluate } from './evaluate.ts';
import { Sgd, type LossScaleState } from './sgd.ts';
import { checkpointName, latestCheckpoint, rotateCheckpoints } from './checkpoint_files.ts';
import type { Precision, TrainConfig } from './config.ts';
import { duration, percent } from './format.ts';

export interface TrainHooks {
  /** Where lines go (default console.log). */
  log?: (line: string) => void;
  /** Draw progress bars (default: true). */
  progress?: boolean;
  /** Use these datasets instead of loading cfg.dataset (tests). test may be null: no evaluation. */
  datasets?: { train: ImageDataset; test: ImageDataset | null };
  /** Polled after every step; true stops like Ctrl-C does (finish the step, save, return). */
  shouldStop?: () => boolean;
  /** Flags given explicitly on the command line: on resume they override the checkpoint's config. */
  explicit?: Set<string>;
}

export type StopReason = 'done' | 'max-steps' | 'interrupted' | 'nan';

export interface TrainResult {
  reason: StopReason;
  /** Steps done in total (including those before a resume). */
  steps: number;
  history: EpochRecord[];
  /** The last checkpoint written (or resumed from), if any. */
  checkpoint: string | null;
  /** The configuration actually used (after presets and resume). */
  config: TrainConfig;
  message?: string;
}

/** What a checkpoint's `training` metadata holds. */
interface TrainingRecord {
  version: 1;
  config: TrainConfig;
  step: number;
  sampler: SamplerState;
  rng: RngState;
  lossScale: LossScaleState;
  /** The unfinished epoch's metrics so far (STATS host sums). */
  epochStats: number[];
  epochSeconds: number;
  history: EpochRecord[];
}

/** fp16 activations only where the adapter computes in f16; packed halves on others are slower than f32. */
export function resolvePrecision(p: Precision, shaderF16 = deviceInfo().shaderF16): DType {
  return p === 'fp32' ? 'f32' : p === 'fp16' ? 'f16' : shaderF16 ? 'f16' : 'f32';
}

/** A software (CPU) adapter: Dawn's OpenGL compatibility path exists here for Mesa llvmpipe. */
export function isCpuAdapter(): boolean {
  const i = deviceInfo();
  return /llvmpipe|lavapipe|softpipe|swiftshader|cpu/i.test(i.description) || i.featureLevel === 'compatibility';
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The checkpoint's config, with the flags given explicitly now taking precedence. */
function mergeResumed(saved: TrainConfig, now: TrainConfig, explicit: Set<string>): TrainConfig {
  const out = { ...saved } as Record<string, unknown>;
  for (const f of explicit) {
    const k = camel(f);
    if (k in now) out[k] = (now as unknown as Record<string, unknown>)[k];
  }
  // where to write and what to resume are always this invocation's
  out.outDir = now.outDir;
  out.resume = now.resume;
  return out as unknown as TrainConfig;
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
    `use --batch-size ${fits} or less${isCpuAdapter() ? ', or --preset fast (sized for a CPU adapter)' : ''}`);
}

/**
 * What the seed preset would cost on this CPU adapter, when its batch cannot even run here: steps of
 * a batch that fits (at most 8 images; `fits`, at least 1, is the largest) are timed on synthetic
 * data and scaled to the configured batch (a CPU's time per step grows in proportion to the images).
 */
async function cpuEstimate(cfg: TrainConfig, dtype: DType, fits: number, log: (s: string) => void): Promise<string> {
  const b = Math.min(8, fits);
  log(`timing a few ${b}-image steps to estimate the seed preset's cost on this CPU adapter...`);
  const ms = await timeSteps({ size: cfg.modelSize, group: cfg.group, imageSize: cfg.imageSize, batch: b, stem: cfg.stem, train: true, dtype }, { iters: 2, warmup: 2 });
  const perStep = (Math.min(...ms) * cfg.batchSize) / b / 1000;
  const S = Math.floor(TRAIN_IMAGES[cfg.dataset] / cfg.batchSize);
  return `On this CPU adapter (${deviceInfo().description}) a step of ${cfg.batchSize} images would take about ${duration(perStep)} ` +
    `(timed at batch ${b}, scaled): about ${duration(perStep * S)} per epoch of ${S} step${S === 1 ? '' : 's'}, ${duration(perStep * S * cfg.epochs)} for ${cfg.epochs} epochs. ` +
    'For a run sized for a CPU, use --preset fast.';
}

export async function train(cfgIn: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? ((s: string) => console.log(s));
  let cfg = cfgIn;

  // ---- resume: find the file, take its configuration ----
  let resumeFile: string | null = null;
  let record: TrainingRecord | null = null;
  if (cfg.resume) {
    resumeFile = cfg.resume === true ? latestCheckpoint(cfg.outDir) : cfg.resume;
    if (!resumeFile) throw new Error(`--resume: no checkpoint (shufflenetv1-<epoch>_<step>.safetensors) in ${cfg.outDir}`);
    const ck = await readCheckpoint(resumeFile);
    if (!ck.training) throw new Error(`--resume: ${resumeFile} has no training record (it is a weights-only checkpoint); nothing to resume`);
    record = ck.training as unknown as TrainingRecord;
    cfg = mergeResumed(record.config, cfg, hooks.explicit ?? new Set());
  }

  const dtype = resolvePrecision(cfg.precision);
  try {
    checkBatchFits(cfg, dtype);
  } catch (e) {
    const fits = largestBatch(cfg, dtype);
    if (cfg.preset !== 'seed' || !isCpuAdapter() || fits < 1) throw e;
    const estimate = await cpuEstimate(cfg, dtype, fits, log).catch((t: Error) => `(could not time steps for an estimate: ${t.message})`);
    throw new Error(`${(e as Error).message}\n${estimate}`);
  }
  const { train: trainSet, test: testSet } = hooks.datasets ?? {
    train: await loadDataset(cfg.dataset, 'train', { dataDir: cfg.dataDir, downloadUrl: cfg.downloadUrl }),
    test: cfg.evalEvery > 0 ? await loadDataset(cfg.dataset, 'test', { dataDir: cfg.dataDir, downloadUrl: cfg.downloadUrl }) : null,
  };
  const N = cfg.batchSize;
  const sampler = new BatchSampler({ count: trainSet.count, batchSize: N, seed: cfg.seed });
  const S = sampler.batchesPerEpoch;
  if (S === 0) throw new Error(`--batch-size ${N} is larger than the ${trainSet.count} training images`);
  const totalSteps = cfg.epochs * S;
  const stopAt = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, totalSteps) : totalSteps;
  const schedule: Schedule = { baseLr: cfg.lr, minLr: cfg.minLr, warmupEpochs: cfg.warmupEpochs, epochs: cfg.epochs, stepsPerEpoch: S, granularity: cfg.lrGranularity };
  const geometry = trainGeometry(trainSet, cfg.imageSize, cfg.flip);
  // a stream of its own, so the shuffle (seeded by cfg.seed in the sampler) and the crops are independent
  const augRng = new Rng((cfg.seed ^ 0x5eed_a06) >>> 0);

  const model = new ShuffleNetV1({ size: cfg.modelSize, group: cfg.group, classes: trainSet.classes.length, imageSize: cfg.imageSize, stem: cfg.stem, seed: cfg.seed });
  const opt = new Sgd(model.parameters(), { lossScale: cfg.lossScale, dynamic: cfg.dynamicLossScale });
  let step = 0;
  let history: EpochRecord[] = [];
  const epochStats = new Float64Array(STATS);
  let epochSeconds = 0;
  if (record && resumeFile) {
    const { checkpoint } = await loadCheckpoint(resumeFile, model);
    opt.loadMomenta(checkpoint.momenta);
    opt.restoreLossScale(record.lossScale);
    sampler.restore(record.sampler);
    augRng.setState(record.rng);
    step = record.step;
    history = record.history;
    epochStats.set(record.epochStats);
    epochSeconds = record.epochSeconds;
    log(`resumed from ${resumeFile} at epoch ${sampler.epoch + 1}, step ${step} (${step % S}/${S} of the epoch)`);
  }

  fs.mkdirSync(cfg.outDir, { recursive: true });
  const metricsFile = path.join(cfg.outDir, 'metrics.jsonl');
  const plotFile = path.join(cfg.outDir, 'training.png');
  const writeMetrics = (o: Record<string, unknown>) => fs.appendFileSync(metricsFile, JSON.stringify(o) + '\n');
  if (!record) fs.writeFileSync(metricsFile, '');

  log(`model ShuffleNetV1 ${cfg.modelSize} g=${cfg.group} ${cfg.stem} stem, ${cfg.imageSize}x${cfg.imageSize}, ${dtype} activations` +
    `${cfg.precision === 'auto' ? ` (auto: ${deviceInfo().shaderF16 ? 'shader-f16 available' : 'no shader-f16, packed halves would be slower than f32'})` : ''}; ` +
    `${trainSet.name}: ${trainSet.count} images, ${S} steps of ${N} per epoch, ${cfg.epochs} epochs` +
    `${stopAt < totalSteps ? ` (stopping after step ${stopAt})` : ''}; lr ${cfg.lr} -> ${cfg.minLr}, ${cfg.warmupEpochs} warm-up epochs; ` +
    `loss scale ${cfg.lossScale}${cfg.dynamicLossScale ? ' (dynamic)' : ''}`);

  // ---- per-step tensors (created before the capture, rewritten every step) ----
  const size = sampleSize(trainSet);
  const t: StepTensors = {
    src: byteTensor(N * size),
    params: Tensor.empty([N, PARAMS]),
    labels: Tensor.empty([N]),
    scale: opt.scale,
    stats: Tensor.zeros([STATS]),
  };
  const shape: StepShape = {
    dims: { N, C: trainSet.channels, H: trainSet.height, W: trainSet.width },
    imageSize: cfg.imageSize, dtype, mean: trainSet.mean, std: trainSet.std, smoothing: cfg.labelSmoothing,
  };
  const hostImages = new Uint8Array(N * size), hostLabels = new Uint8Array(N), hostLabelsF = new Float32Array(N);

  interface Batch { params: Float32Array; epoch: number; batch: number; samplerBefore: SamplerState; rngBefore: RngState }
  const prepare = (): Batch => {
    const samplerBefore = sampler.state(), rngBefore = augRng.getState();
    const idx = sampler.next() ?? sampler.next()!;
    copyBatch(trainSet, idx, hostImages, hostLabels);
    return { params: trainParams(augRng, N, geometry), epoch: sampler.epoch, batch: sampler.batch, samplerBefore, rngBefore };
  };

  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) { log('\nsecond Ctrl-C: exiting without saving'); process.exit(130); }
    stopRequested = true;
    log('\nCtrl-C: finishing the current step, then saving a checkpoint (Ctrl-C again to exit now)');
  };
  process.on('SIGINT', onSigint);

  let captured: CapturedStep | null = null;
  let stepsThisRun = 0;
  let lastCheckpoint: string | null = resumeFile;
  let reason: StopReason = 'done';
  let message: string | undefined;
  let bar: ProgressBar | null = null;
  let windowStart = performance.now(), windowSteps = 0, epochStart = performance.now() - epochSeconds * 1000;
  let estimatePrinted = false, timedFrom: { at: number; step: number } | null = null;

  const save = async (pending: Batch | null, epoch: number, stepInEpoch: number) => {
    const file = path.join(cfg.outDir, checkpointName(epoch, stepInEpoch));
    const rec: TrainingRecord = {
      version: 1, config: { ...cfg, resume: null }, step,
      sampler: pending?.samplerBefore ?? sampler.state(), rng: pending?.rngBefore ?? augRng.getState(),
      lossScale: await opt.lossScaleState(), epochStats: [...epochStats], epochSeconds: (performance.now() - epochStart) / 1000, history,
    };
    await saveCheckpoint(file, model, { momenta: opt.momenta(), training: rec as unknown as Record<string, unknown> });
    rotateCheckpoints(cfg.outDir, cfg.keepCheckpoints);
    lastCheckpoint = file;
    return file;
  };

  /** Read the metrics window back (waits for the GPU), fold it into the epoch's. */
  const readWindow = async () => {
    const w = await t.stats.read();
    t.stats.write(new Float32Array(STATS));
    addStats(epochStats, w);
    const m = decodeStats(w);
    const now = performance.now();
    const ips = (windowSteps * N) / ((now - windowStart) / 1000);
    windowStart = now;
    windowSteps = 0;
    return { m, ips };
  };

  try {
    let pending: Batch | null = step < stopAt ? prepare() : null;
    while (pending && step < stopAt) {
      const b = pending;
      const lr = lrAt(step, schedule);
      writeBytes(t.src, hostImages);
      hostLabelsF.set(hostLabels);
      t.labels.write(hostLabelsF);
      t.params.write(b.params);
      opt.setHyper(lr, cfg.momentum, cfg.weightDecay);
      if (!bar && hooks.progress !== false) bar = progressBar({ label: `epoch ${b.epoch + 1}/${cfg.epochs}`, total: S });

      if (captured) captured.run();
      else if (stepsThisRun === 0) trainStep(model, opt, t, shape);
      else captured = capture(() => trainStep(model, opt, t, shape)).step;
      step++;
      stepsThisRun++;
      windowSteps++;
      const epochDone = b.batch === S;
      pending = step < stopAt ? prepare() : null; // the host's share of the next step, while the GPU works
      if (stepsThisRun === 2) { await sync(); timedFrom = { at: performance.now(), step }; windowStart = performance.now(); windowSteps = 0; }
      await new Promise<void>((r) => setImmediate(r)); // lets a Ctrl-C be noticed between steps
      const stop = stopRequested || (hooks.shouldStop?.() ?? false);
      if (stop) stopRequested = true;

      if (step % cfg.logEvery === 0 || epochDone || step === stopAt || stopRequested) {
        const { m, ips } = await readWindow();
        bar?.update(b.batch, `loss ${m.lastLoss.toFixed(4)} lr ${lr.toPrecision(3)} ${Number.isFinite(ips) ? ips.toFixed(1) : '-'} img/s`);
        writeMetrics({ event: 'step', epoch: b.epoch + 1, step, loss: m.loss, lastLoss: m.lastLoss, lr, imagesPerSec: ips, time: Date.now() / 1000 });
        if (m.skippedSteps > 0) log(`\nstep ${step}: ${m.skippedSteps} update(s) skipped for Inf/NaN gradients; loss scale now ${(await opt.lossScaleState()).scale}`);
        if (m.nonFiniteSteps > 0) {
          if (!cfg.dynamicLossScale) {
            bar?.done();
            reason = 'nan';
            message = `the loss became non-finite (${m.nonFiniteSteps} step(s), last loss ${m.lastLoss}) by step ${step} (epoch ${b.epoch + 1}); stopping without saving. ` +
              `The last good checkpoint is ${lastCheckpoint ?? '(none yet)'}. Try a lower --lr, --precision fp32 or --dynamic-loss-scale.`;
            log(message);
            break;
          }
          log(`\nstep ${step}: ${m.nonFiniteSteps} step(s) with a non-finite loss (dynamic loss scaling skips their updates)`);
        }
        if (!estimatePrinted && timedFrom && step - timedFrom.step >= Math.min(cfg.logEvery, 5)) {
          estimatePrinted = true;
          const msPerStep = (performance.now() - timedFrom.at) / (step - timedFrom.step);
          if (cfg.preset === 'seed' && isCpuAdapter()) {
            bar?.done();
            bar = null;
            log(`estimated ${duration((msPerStep * S) / 1000)} per epoch (${msPerStep.toFixed(0)} ms/step) on this CPU adapter (${deviceInfo().description}), ` +
              `${duration((msPerStep * (stopAt - step)) / 1000)} for the whole run; for a run sized for a CPU, try --preset fast`);
          }
        }
      }

      if (epochDone) {
        const e = b.epoch + 1;
        bar?.done();
        bar = null;
        const m = decodeStats(epochStats);
        const seconds = (performance.now() - epochStart) / 1000;
        const rec: EpochRecord = { epoch: e, trainLoss: m.loss, trainAcc: m.top1 };
        let testText = '';
        if (testSet && cfg.evalEvery > 0 && (e % cfg.evalEvery === 0 || e === cfg.epochs)) {
          const r = await evaluate(model, testSet, { batchSize: Math.min(N, 256), imageSize: cfg.imageSize, dtype, smoothing: cfg.labelSmoothing });
          rec.testLoss = r.loss;
          rec.testAcc = r.top1;
          testText = `, test loss ${r.loss.toFixed(4)} top-1 ${percent(r.top1)} top-5 ${percent(r.top5)} (${r.seconds.toFixed(1)} s)`;
          writeMetrics({ event: 'eval', epoch: e, step, loss: r.loss, top1: r.top1, top5: r.top5, seconds: r.seconds });
        }
        history.push(rec);
        // the seed's LossMonitor/TimeMonitor line, plus accuracy
        log(`epoch: ${e} step: ${S}, loss is ${m.loss.toFixed(6)}, train top-1 ${percent(m.top1)}${testText}; ` +
          `epoch time ${duration(seconds)}, per step time ${((seconds * 1000) / S).toFixed(1)} ms`);
        writeMetrics({ event: 'epoch', epoch: e, step, trainLoss: m.loss, trainTop1: m.top1, trainTop5: m.top5, testLoss: rec.testLoss, testTop1: rec.testAcc, seconds, lr: lrAt(step - 1, schedule) });
        plotTraining(history, plotFile, { title: `ShuffleNetV1 ${cfg.modelSize} g=${cfg.group} on ${cfg.dataset}` });
        epochStats.fill(0);
        epochStart = performance.now();
        await save(pending, e, S);
      }

      if (stopRequested) {
        bar?.done();
        bar = null;
        reason = 'interrupted';
        if (!epochDone) await save(pending, b.epoch + 1, b.batch);
        log(`stopped at step ${step}; saved ${lastCheckpoint}. Continue with --resume ${lastCheckpoint}`);
        break;
      }
      if (step === stopAt && stopAt < totalSteps) {
        bar?.done();
        bar = null;
        reason = 'max-steps';
        if (!epochDone) await save(pending, b.epoch + 1, b.batch);
        log(`reached --max-steps ${cfg.maxSteps}; saved ${lastCheckpoint}`);
      }
    }
    await sync();
  } finally {
    process.off('SIGINT', onSigint);
    bar?.done();
    captured?.dispose();
    for (const x of [t.src, t.params, t.labels, t.stats]) x.dispose();
    opt.dispose();
    model.dispose();
  }
  return { reason, steps: step, history, checkpoint: lastCheckpoint, config: cfg, ...(message ? { message } : {}) };
}
