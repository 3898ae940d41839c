// File-system errors of a run's outputs as messages that name the path and say what to do, instead of
// Node's bare "EROFS: read-only file system, open '...'".

const ADVICE: Record<string, string> = {
  EACCES: 'permission denied: choose a directory you can write (--out-dir) or change its permissions',
  EPERM: 'operation not permitted: choose a directory you can write (--out-dir)',
  EROFS: 'the file system is read-only: choose an --out-dir on a writable disk',
  ENOSPC: 'no space left on the device: free some space, or choose an --out-dir on another disk',
  EDQUOT: 'disk quota exceeded: free some space, or choose an --out-dir on another disk',
  ENOTDIR: 'a part of the path is a file, not a directory: choose another --out-dir',
  EISDIR: 'a directory is in the way: remove or rename it',
  EEXIST: 'it exists and is not a directory: choose another --out-dir, or move it away',
  EMFILE: 'too many open files: raise the limit (ulimit -n)',
  EIO: 'an input/output error: the disk may be failing',
};

/** `cannot <action> <path>: <what it means and what to do> (<code>)`. */
export function fsErrorMessage(e: unknown, action: string, path: string): string {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code;
  const advice = (code && ADVICE[code]) ?? err?.message ?? String(e);
  return `cannot ${action} ${path}: ${advice}${code ? ` (${code})` : ''}`;
}

/** An error of a run's files, with the errno code that caused it. */
export class RunFileError extends Error {
  override name = 'RunFileError';
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** Run `f`; a file-system error becomes a RunFileError naming `path`. */
export function withPath<T>(action: string, path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code) throw new RunFileError(fsErrorMessage(e, action, path), (e as NodeJS.ErrnoException).code);
    throw e;
  }
}
