// Checkpoint files of a run: the seed's names (MindSpore ModelCheckpoint: `<prefix>-<epoch>_<step>`,
// epoch 1-based, step = steps done in that epoch, e.g. `shufflenetv1-250_391`) with the
// .safetensors extension, and rotation that keeps the newest `keep` of them (the seed's
// keep_checkpoint_max=5). "Newest" is by (epoch, step) parsed from the name, not by file time,
// so a resumed run that re-saves an epoch does not confuse the order.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CHECKPOINT_PREFIX = 'shufflenetv1';
const PATTERN = /^shufflenetv1-(\d+)_(\d+)\.safetensors$/;

export function checkpointName(epoch: number, step: number): string {
  return `${CHECKPOINT_PREFIX}-${epoch}_${step}.safetensors`;
}

export interface CheckpointFile { file: string; epoch: number; step: number }

/** Checkpoints in `dir`, oldest first (empty if the directory does not exist). */
export function listCheckpoints(dir: string): CheckpointFile[] {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  const out: CheckpointFile[] = [];
  for (const n of names) {
    const m = PATTERN.exec(n);
    if (m) out.push({ file: path.join(dir, n), epoch: Number(m[1]), step: Number(m[2]) });
  }
  return out.sort((a, b) => a.epoch - b.epoch || a.step - b.step);
}

/** The newest checkpoint in `dir`, or null. */
export function latestCheckpoint(dir: string): string | null {
  return listCheckpoints(dir).at(-1)?.file ?? null;
}

/** Delete all but the newest `keep` checkpoints; returns the deleted paths. */
export function rotateCheckpoints(dir: string, keep: number): string[] {
  const all = listCheckpoints(dir);
  const drop = all.slice(0, Math.max(0, all.length - keep));
  for (const c of drop) fs.rmSync(c.file, { force: true });
  return drop.map((c) => c.file);
}
