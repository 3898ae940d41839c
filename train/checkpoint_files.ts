// Checkpoint files of a run: the seed's names (MindSpore ModelCheckpoint: `<prefix>-<epoch>_<step>`,
// epoch 1-based, step = steps done in that epoch, e.g. `shufflenetv1-250_391`) with the
// .safetensors extension, and rotation that keeps the newest `keep` of them (the seed's
// keep_checkpoint_max=5). Periodic checkpoints inside an epoch (--checkpoint-every) are named
// `<prefix>-<epoch>_<step>.periodic.safetensors` and rotated on their own (newest KEEP_PERIODIC kept).
// "Newest" is by (epoch, step) parsed from the name, not by file time, so a resumed run that re-saves
// an epoch does not confuse the order.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CHECKPOINT_PREFIX = 'shufflenetv1';
/** Periodic checkpoints kept (they are superseded by the next epoch's anyway). */
export const KEEP_PERIODIC = 2;
const PATTERN = /^shufflenetv1-(\d+)_(\d+)(\.periodic)?\.safetensors$/;

/** `epoch`: at an epoch end, Ctrl-C or --max-steps; `periodic`: --checkpoint-every. */
export type CheckpointKind = 'epoch' | 'periodic';

export function checkpointName(epoch: number, step: number, kind: CheckpointKind = 'epoch'): string {
  return `${CHECKPOINT_PREFIX}-${epoch}_${step}${kind === 'periodic' ? '.periodic' : ''}.safetensors`;
}

export interface CheckpointFile { file: string; epoch: number; step: number; kind: CheckpointKind }

/** Checkpoints in `dir` (of one kind, or all), oldest first (empty if the directory does not exist). */
export function listCheckpoints(dir: string, kind?: CheckpointKind): CheckpointFile[] {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  const out: CheckpointFile[] = [];
  for (const n of names) {
    const m = PATTERN.exec(n);
    const k: CheckpointKind = m?.[3] ? 'periodic' : 'epoch';
    if (m && (!kind || kind === k)) out.push({ file: path.join(dir, n), epoch: Number(m[1]), step: Number(m[2]), kind: k });
  }
  // at the same (epoch, step) the two kinds hold the same state; the epoch one sorts last
  return out.sort((a, b) => a.epoch - b.epoch || a.step - b.step || (a.kind === b.kind ? 0 : a.kind === 'periodic' ? -1 : 1));
}

/** The newest checkpoint in `dir` (of either kind), or null. */
export function latestCheckpoint(dir: string): string | null {
  return listCheckpoints(dir).at(-1)?.file ?? null;
}

/** Delete all but the newest `keep` checkpoints of one kind; returns the deleted paths. */
export function rotateCheckpoints(dir: string, keep: number, kind: CheckpointKind = 'epoch'): string[] {
  const all = listCheckpoints(dir, kind);
  const drop = all.slice(0, Math.max(0, all.length - keep));
  for (const c of drop) fs.rmSync(c.file, { force: true });
  return drop.map((c) => c.file);
}
