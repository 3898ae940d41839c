// Exact resume: what a training checkpoint records beside the weights, BN statistics and momenta
// (model/checkpoint.ts), saving it, and restoring a run from it. The record holds the sampler
// position and the augmentation RNG state as they were before the next batch was drawn, the global
// step (so the lr schedule continues where it was), the loss-scale state, the partial epoch's
// metrics and the per-epoch history; N steps + save + resume + N steps equals 2N steps.
import * as path from 'node:path';
import type { RngState } from '../engine/index.ts';
import { loadCheckpoint, readCheckpoint, saveCheckpoint } from '../model/checkpoint.ts';
import type { SamplerState } from './data/dataset.ts';
import type { EpochRecord } from './pictures/plot.ts';
import type { LossScaleState } from './sgd.ts';
import type { Batch, Session } from './session.ts';
import { checkpointName, latestCheckpoint, rotateCheckpoints } from './checkpoint_files.ts';
import { resumedConfig, type TrainConfig } from './config.ts';

/**
 * The trainer's `training` record, stored as JSON in the checkpoint's metadata (a type, not an
 * interface, so it is the plain JSON object model/checkpoint.ts takes and gives back).
 */
export type TrainingRecord = {
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
};

export interface Resume {
  file: string;
  record: TrainingRecord;
  /** The checkpoint's configuration, with the flags given explicitly now taking precedence. */
  config: TrainConfig;
}

/** The checkpoint --resume names (or the newest in --out-dir) and its record; null without --resume. */
export async function findResume(cfg: TrainConfig, explicit: ReadonlySet<string>): Promise<Resume | null> {
  if (!cfg.resume) return null;
  const file = cfg.resume === true ? latestCheckpoint(cfg.outDir) : cfg.resume;
  if (!file) throw new Error(`--resume: no checkpoint (shufflenetv1-<epoch>_<step>.safetensors) in ${cfg.outDir}`);
  const ck = await readCheckpoint(file);
  if (!ck.training) throw new Error(`--resume: ${file} has no training record (it is a weights-only checkpoint); nothing to resume`);
  const record = ck.training as TrainingRecord;
  return { file, record, config: resumedConfig(record.config, cfg, explicit) };
}

/** Put a new session where the checkpoint left off: weights, momenta, loss scale, sampler, RNG, progress. */
export async function restoreSession(s: Session, r: Resume): Promise<void> {
  const { record } = r;
  const { checkpoint } = await loadCheckpoint(r.file, s.model);
  s.opt.loadMomenta(checkpoint.momenta);
  s.opt.restoreLossScale(record.lossScale);
  s.sampler.restore(record.sampler);
  s.augRng.setState(record.rng);
  s.step = record.step;
  s.history = record.history;
  s.epochStats.set(record.epochStats);
  s.epochStart = performance.now() - record.epochSeconds * 1000;
  s.lastCheckpoint = r.file;
  s.log(`resumed from ${r.file} at epoch ${s.sampler.epoch + 1}, step ${s.step} (${s.step % s.S}/${s.S} of the epoch)`);
}

/**
 * Save `shufflenetv1-<epoch>_<stepInEpoch>.safetensors` and drop the oldest beyond --keep-checkpoints.
 * `pending` is the batch already drawn for the next step, if any: the record keeps the sampler and RNG
 * states from before it, so a resumed run draws it again.
 */
export async function saveSession(s: Session, pending: Batch | null, epoch: number, stepInEpoch: number): Promise<string> {
  const file = path.join(s.cfg.outDir, checkpointName(epoch, stepInEpoch));
  const training: TrainingRecord = {
    version: 1, config: { ...s.cfg, resume: null }, step: s.step,
    sampler: pending?.samplerBefore ?? s.sampler.state(), rng: pending?.rngBefore ?? s.augRng.getState(),
    lossScale: await s.opt.lossScaleState(), epochStats: [...s.epochStats], epochSeconds: (performance.now() - s.epochStart) / 1000, history: s.history,
  };
  await saveCheckpoint(file, s.model, { momenta: s.opt.momenta(), training });
  rotateCheckpoints(s.cfg.outDir, s.cfg.keepCheckpoints);
  s.lastCheckpoint = file;
  return file;
}
