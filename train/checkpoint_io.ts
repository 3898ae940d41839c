// Checkpoint files on disk (Node only; model/ encodes and decodes the bytes, so a page can load the
// same checkpoints from fetch or a file picker). Writes are atomic: temp file in the target directory,
// fsync, rename, fsync of the directory, so a crash mid-save never leaves a half-written checkpoint
// where a good one used to be. Read errors name the path and what to do.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  applyCheckpoint, decodeCheckpoint, encodeCheckpoint, encodeCheckpointAs, isMindsporePath,
  type Checkpoint, type ReadOptions, type SaveOptions,
} from '../model/checkpoint.ts';
import { SafetensorsError, decodeSafetensors, encodeSafetensors, type StFile, type StTensor } from '../model/safetensors.ts';
import { MindsporeCkptError, decodeMindsporeCkpt, encodeMindsporeCkpt, type MsEntry, type MsFile } from '../model/mindspore_ckpt.ts';
import type { ShuffleNetV1 } from '../model/shufflenet.ts';

/** Write `model` (and optionally optimizer state) to `path` as safetensors, atomically. */
export async function saveCheckpoint(path: string, model: ShuffleNetV1, opts: SaveOptions = {}): Promise<void> {
  await writeFileAtomic(path, await encodeCheckpoint(model, opts));
}

/** Read and validate a checkpoint file (.ckpt: MindSpore, else safetensors); not yet against a model. */
export async function readCheckpoint(path: string, opts: ReadOptions = {}): Promise<Checkpoint> {
  const bytes = isMindsporePath(path) ? await readBytes(path, MindsporeCkptError) : await readBytes(path, SafetensorsError, filesIn);
  return decodeCheckpoint(bytes, path, opts);
}

/**
 * Load a checkpoint into `model` (built from the file's metadata if not given). The file's size, group,
 * classes and stem must equal the model's; strict (default): its tensors must match the state dict
 * exactly; momentum buffers must always name parameters and have their shapes.
 */
export async function loadCheckpoint(path: string, model?: ShuffleNetV1, opts: { strict?: boolean } & ReadOptions = {}): Promise<{ model: ShuffleNetV1; checkpoint: Checkpoint }> {
  const ck = await readCheckpoint(path, opts);
  return { model: applyCheckpoint(ck, path, model, opts.strict ?? true), checkpoint: ck };
}

/** Write host tensors as a checkpoint file (format by extension, model/checkpoint.ts encodeCheckpointAs), atomically; nothing is written if they do not fit the model. */
export async function writeCheckpointFile(path: string, ck: Pick<Checkpoint, 'config' | 'state' | 'momenta' | 'training'>, opts: { crc?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, encodeCheckpointAs(path, ck, opts));
}

/** Atomically write a safetensors file (the bytes are encoded before anything is written). */
export async function writeSafetensorsFile(path: string, tensors: Record<string, StTensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Read and validate a safetensors file; errors are prefixed with `path`. */
export async function readSafetensorsFile(path: string): Promise<StFile> {
  return decodeSafetensors(await readBytes(path, SafetensorsError, filesIn), path);
}

export async function readMindsporeCkptFile(path: string): Promise<MsFile> {
  return decodeMindsporeCkpt(await readBytes(path, MindsporeCkptError), path);
}

/** Encode and write atomically (temp file + fsync + rename): a failure leaves any previous file intact. */
export async function writeMindsporeCkptFile(path: string, entries: readonly MsEntry[], opts: { crc?: boolean; sliceBytes?: number } = {}): Promise<void> {
  await writeFileAtomic(path, encodeMindsporeCkpt(entries, opts));
}

/** A checkpoint file's bytes; a missing file, a directory or an unreadable file is a `Err` naming the path. */
async function readBytes(path: string, Err: new (msg: string) => Error, dirHint?: (dir: string) => string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new Err(`checkpoint not found: ${path}`);
    if (err.code === 'EISDIR') throw new Err(`${path}: cannot read checkpoint: it is a directory, not a file${dirHint ? `; ${dirHint(path)}` : ''}`);
    throw new Err(`${path}: cannot read checkpoint: ${err.message}`);
  }
}

/** A hint naming the .safetensors files in `dir` (the last three in name order, numbers compared as numbers). */
function filesIn(dir: string): string {
  let names: string[] = [];
  try { names = readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })); } catch { /* unreadable */ }
  if (!names.length) return 'it holds no .safetensors file';
  return `pass one of its ${names.length} .safetensors files, e.g. ${names.slice(-3).map((n) => join(dir, n)).join(', ')}`;
}

/** Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename), creating the directory. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let created = false;
  try {
    const fh = await open(tmp, 'wx');
    created = true;
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    created = false;
  } catch (e) {
    if (created) await unlink(tmp).catch(() => {});
    throw e;
  }
  // Persist the rename itself; not every platform can fsync a directory, and the data
  // is already safe, so failure here is not an error.
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}
