// One training run per output directory: a lock file (`train.lock`: pid, host, start time) created
// exclusively ('wx') in --out-dir, removed when the run ends (or its process exits). A second run
// there is refused, naming the first. A lock whose process is gone (a dead pid on this host, or a
// file left empty by a run that died while creating it) is stale: it is named and taken over. A lock
// from another host cannot be checked from here; the message says so.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunFileError, fsErrorMessage } from './fs_errors.ts';

export const LOCK_NAME = 'train.lock';

interface Holder { pid: number; host: string; started: string }

/** Seconds after which an empty or unreadable lock file counts as left by a run that died creating it. */
const HALF_WRITTEN_S = 5;

function readHolder(file: string): { holder: Holder | null; text: string; ageS: number } | null {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const ageS = (Date.now() - fs.statSync(file).mtimeMs) / 1000;
    try {
      const h = JSON.parse(text) as Holder;
      return { holder: Number.isInteger(h.pid) && typeof h.host === 'string' ? h : null, text, ageS };
    } catch {
      return { holder: null, text, ageS };
    }
  } catch {
    return null; // gone meanwhile
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

export class RunLock {
  private released = false;
  private readonly onExit = (): void => this.release();

  private constructor(readonly file: string, private readonly text: string) {
    process.on('exit', this.onExit);
  }

  /** Take the lock of `dir` (which exists), or throw naming the run that holds it. */
  static acquire(dir: string, log: (s: string) => void): RunLock {
    const file = path.join(dir, LOCK_NAME);
    const text = JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() } satisfies Holder) + '\n';
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, text, { flag: 'wx' });
        return new RunLock(file, text);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunFileError(fsErrorMessage(e, 'create the lock file', file), (e as NodeJS.ErrnoException).code);
      }
      const seen = readHolder(file);
      if (!seen) continue; // removed meanwhile: try again
      const stale = staleReason(seen);
      if (!stale) {
        const h = seen.holder;
        const who = h ? `pid ${h.pid} on ${h.host === os.hostname() ? 'this host' : `host ${h.host}`}, started ${h.started}` : 'a run that is starting now';
        throw new Error(`--out-dir ${dir} is in use by another training run (${who}; lock file ${file}). ` +
          `Wait for it to finish, or use another --out-dir${h && h.host !== os.hostname() ? '; this host cannot check whether that run is still alive' : ''}. ` +
          `If that run is gone, delete ${file}.`);
      }
      // remove it only if it is still the stale file just read (another run may have taken it over)
      if (readHolder(file)?.text === seen.text) {
        log(`taking over the stale lock ${file}: ${stale}`);
        fs.rmSync(file, { force: true });
      }
    }
    throw new Error(`--out-dir ${dir}: could not take the lock ${file} (other runs keep creating it)`);
  }

  /** Remove the lock file if it is still ours; idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.text) fs.rmSync(this.file, { force: true });
    } catch { /* already gone */ }
  }
}

/** Why a lock file is stale, or null if its run may be alive. */
function staleReason(seen: { holder: Holder | null; ageS: number }): string | null {
  const h = seen.holder;
  if (!h) return seen.ageS > HALF_WRITTEN_S ? 'it is empty or unreadable (left by a run that died while starting)' : null;
  if (h.host !== os.hostname()) return null;
  if (h.pid === process.pid || alive(h.pid)) return null;
  return `pid ${h.pid} on this host (started ${h.started}) is no longer running`;
}
