// The output directory of a run: created (or refused, naming the path, when it cannot be), and
// protected: a new run (no --resume) refuses a directory holding another run's checkpoints or
// metrics unless --overwrite, which deletes them first. Two runs at once are kept apart by
// train/run_lock.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints } from './checkpoint_files.ts';
import { RunFileError, fsErrorMessage } from './fs_errors.ts';
import type { TrainConfig } from './config.ts';

/** Create `dir` if needed; a file there, or a directory that cannot be created, is an error that says what to do. */
export function prepareOutDir(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if (!['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) throw new RunFileError(fsErrorMessage(e, 'read --out-dir', dir));
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (m) {
      throw new RunFileError(fsErrorMessage(m, 'create --out-dir', dir), (m as NodeJS.ErrnoException).code);
    }
    return;
  }
  if (!st.isDirectory()) throw new RunFileError(`--out-dir ${dir} is a file, not a directory: choose another --out-dir, or move the file away`, 'ENOTDIR');
}

/** What another run left in `dir`: its checkpoints and a non-empty metrics.jsonl. */
export function previousRun(dir: string): { checkpoints: string[]; metrics: string | null } {
  const metrics = path.join(dir, 'metrics.jsonl');
  let size = 0;
  try { size = fs.statSync(metrics).size; } catch { /* absent */ }
  return { checkpoints: listCheckpoints(dir).map((c) => c.file), metrics: size > 0 ? metrics : null };
}

/**
 * A new run's claim on its --out-dir (the lock is held): refused if another run's outputs are there,
 * unless --overwrite, which deletes them (checkpoints, metrics.jsonl, training.png).
 */
export function claimOutDir(cfg: TrainConfig, log: (s: string) => void): void {
  const dir = cfg.outDir;
  const prev = previousRun(dir);
  const n = prev.checkpoints.length;
  if (n === 0 && !prev.metrics) return;
  const what = [n ? `${n} checkpoint${n === 1 ? '' : 's'}, the newest ${path.basename(prev.checkpoints.at(-1)!)}` : '', prev.metrics ? 'metrics.jsonl' : ''].filter(Boolean).join(' and ');
  if (!cfg.overwrite) {
    throw new Error(`--out-dir ${dir} holds another run's outputs (${what}): continue that run with --resume, ` +
      'start over with --overwrite (deletes them), or choose another --out-dir');
  }
  for (const f of [...prev.checkpoints, path.join(dir, 'metrics.jsonl'), path.join(dir, 'training.png')]) {
    try { fs.rmSync(f, { force: true }); } catch (e) { throw new RunFileError(fsErrorMessage(e, 'delete', f)); }
  }
  log(`--overwrite: deleted the previous run's ${what} (and training.png) in ${dir}`);
}
