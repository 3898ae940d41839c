// The autotuner's cache on disk: one JSON file per user, a section per adapter (its description,
// backend and feature level: the description carries the driver version, e.g. "Mesa 22.3.6"), each
// section the tuned entries of kernels/tuning.ts keyed by kernel and shape, each entry holding the hash
// of the kernel source it was measured on. Path: $WG_TUNE_CACHE, else $XDG_CACHE_HOME/shufflenet-webgpu/
// tuning.json, else ~/.cache/shufflenet-webgpu/tuning.json. A missing file is no cache; an unreadable
// or malformed one is ignored with a warning (and replaced on the next save), never trusted.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deviceInfo } from '../engine/index.ts';
import { clearTuned, loadTuned, tunedEntries, type TunedEntry } from '../kernels/tuning.ts';

const VERSION = 1;

export function tuneCachePath(env: Record<string, string | undefined> = process.env): string {
  if (env.WG_TUNE_CACHE) return env.WG_TUNE_CACHE;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'shufflenet-webgpu', 'tuning.json');
}

/** The section of the cache this adapter's entries live in. */
export function adapterKey(): string {
  const i = deviceInfo();
  return `${i.description} [${i.backend}, ${i.featureLevel}]`;
}

interface CacheFile { version: number; adapters: Record<string, Record<string, TunedEntry>> }

/** The whole file, or null when there is none; a bad file is reported through `warn` and read as empty. */
function readFile(file: string, warn: (s: string) => void): CacheFile | null {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    warn(`tuning cache ${file} could not be read (${(e as Error).message}): ignored, kernels use their default choices`);
    return null;
  }
  try {
    const c = JSON.parse(text) as CacheFile;
    if (c?.version !== VERSION || typeof c.adapters !== 'object' || c.adapters === null) throw new Error(`not a version ${VERSION} tuning cache`);
    return c;
  } catch (e) {
    warn(`tuning cache ${file} is malformed (${(e as Error).message}): ignored, kernels use their default choices; npm run tune rewrites it`);
    return null;
  }
}

/**
 * Load this adapter's tuned entries (replacing any in memory); returns how many. Entries measured on
 * another kernel source stay in the file but are never used (kernels/tuning.ts compares the hash).
 */
export function loadTuneCache(warn: (s: string) => void, file = tuneCachePath()): number {
  clearTuned();
  const c = readFile(file, warn);
  const section = c?.adapters[adapterKey()];
  if (!section || typeof section !== 'object') return 0;
  const { loaded, skipped } = loadTuned(section);
  if (skipped) warn(`tuning cache ${file}: ${skipped} malformed entr${skipped === 1 ? 'y' : 'ies'} ignored`);
  return loaded;
}

/** Write the entries in memory as this adapter's section, keeping other adapters' sections; atomic. */
export function saveTuneCache(file = tuneCachePath()): void {
  const c = readFile(file, () => {}) ?? { version: VERSION, adapters: {} };
  c.adapters[adapterKey()] = Object.fromEntries(tunedEntries());
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(c, null, 1)}\n`);
  fs.renameSync(tmp, file);
}

/**
 * What the programs (train, eval, bench:train) call after opening the device: load this adapter's
 * tuned choices and say in one line how many, from where, and how to make them when there are none.
 */
export function useTuneCache(log: (s: string) => void, file = tuneCachePath()): number {
  const n = loadTuneCache(log, file);
  log(n ? `tuning: ${n} tuned kernel choice${n === 1 ? '' : 's'} for this adapter from ${file}`
    : `tuning: none cached for this adapter (${file}): kernels use their default choices; npm run tune -- [the same flags] measures them`);
  return n;
}
