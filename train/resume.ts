// Exact resume: what a training checkpoint records beside the weights, BN statistics and momenta
// (model/checkpoint.ts), saving it, and restoring a run from it. The record holds the sampler
// position and the augmentation RNG state as they were before the next batch was drawn, the global
// step (so the lr schedule continues where it was), the loss-scale state, the partial epoch's
// metrics and the per-epoch history; N steps + save + resume + N steps equals 2N steps. On resume,
// metrics.jsonl loses the lines written after the checkpoint (the resumed run writes them again).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RngState } from '../engine/index.ts';
import { loadCheckpoint, readCheckpoint, saveCheckpoint } from './checkpoint_io.ts';
import type { SamplerState } from './data/dataset.ts';
import type { EpochRecord } from './pictures/plot.ts';
import type { LossScaleState } from './sgd.ts';
import type { Batch, Session } from './session.ts';
import { KEEP_PERIODIC, checkpointName, latestCheckpoint, rotateCheckpoints, type CheckpointKind } from './checkpoint_files.ts';
import { fsErrorMessage, RunFileError } from './fs_errors.ts';
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
  const dropped = reconcileMetrics(s.files.metrics, record.step);
  if (dropped) s.log(`${s.files.metrics}: dropped ${dropped} line(s) written after step ${record.step}, the checkpoint's (this run writes them again)`);
  s.log(`resumed from ${r.file} at epoch ${s.sampler.epoch + 1}, step ${s.step} (${s.step % s.S}/${s.S} of the epoch)`);
}

/**
 * Keep the lines of metrics.jsonl up to `step` (a checkpoint's); returns how many were dropped: lines
 * of later steps and any unreadable line (one cut short when a run was killed while writing it).
 */
export function reconcileMetrics(file: string, step: number): number {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return 0; } // none yet (e.g. another --out-dir)
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const keep = lines.filter((l) => {
    try { return ((JSON.parse(l) as { step?: unknown }).step as number) <= step; } catch { return false; }
  });
  if (keep.length === lines.length) return 0;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, keep.map((l) => l + '\n').join(''));
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new RunFileError(fsErrorMessage(e, 'rewrite', file));
  }
  return lines.length - keep.length;
}

/**
 * Save `shufflenetv1-<epoch>_<stepInEpoch>.safetensors` (`.periodic.safetensors` for --checkpoint-every)
 * and drop the oldest of its kind beyond --keep-checkpoints (KEEP_PERIODIC for periodic ones).
 * `pending` is the batch already drawn for the next step, if any: the record keeps the sampler and RNG
 * states from before it, so a resumed run draws it again. A failed save says the previous checkpoint is intact.
 */
export async function saveSession(s: Session, pending: Batch | null, epoch: number, stepInEpoch: number, kind: CheckpointKind = 'epoch'): Promise<string> {
  const file = path.join(s.cfg.outDir, checkpointName(epoch, stepInEpoch, kind));
  const training: TrainingRecord = {
    version: 1, config: { ...s.cfg, resume: null }, step: s.step,
    sampler: pending?.samplerBefore ?? s.sampler.state(), rng: pending?.rngBefore ?? s.augRng.getState(),
    lossScale: await s.opt.lossScaleState(), epochStats: [...s.epochStats], epochSeconds: (performance.now() - s.epochStart) / 1000, history: s.history,
  };
  try {
    await saveCheckpoint(file, s.model, { momenta: s.opt.momenta(), training });
  } catch (e) {
    if (!(e as NodeJS.ErrnoException).code) throw e;
    throw new RunFileError(saveFailure(e, file, s.lastCheckpoint), (e as NodeJS.ErrnoException).code);
  }
  s.lastCheckpoint = file;
  rotateCheckpoints(s.cfg.outDir, kind === 'periodic' ? KEEP_PERIODIC : s.cfg.keepCheckpoints, kind);
  return file;
}

/** The message of a checkpoint save that failed: what, why, and what is still there. */
export function saveFailure(e: unknown, file: string, previous: string | null): string {
  return `${fsErrorMessage(e, 'save the checkpoint', file)}. ` + (previous
    ? `The previous checkpoint ${previous} is intact (checkpoints are written to a temporary file and renamed into place); continue from it with --resume ${previous}.`
    : 'No checkpoint of this run had been saved yet.');
}
