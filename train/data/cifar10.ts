// CIFAR-10 in its binary format: each record is 1 label byte then 3072 pixel bytes, the R, G and B
// 32x32 planes one after the other, so a record's pixels are already CHW and a file is NCHW.
// ensureCifar10 finds the unpacked files, or unpacks a local archive, or downloads the archive
// (progress, MD5 check) and unpacks it, and says where to put the files when it cannot.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { ImageDataset } from './dataset.ts';
import { extractTarGz, safeEntryPath } from './archive.ts';
import { DownloadError, downloadFile } from './download.ts';

export { safeEntryPath };

export const CIFAR10_CLASSES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** The seed's normalisation constants (per channel, [0, 1] pixel units). */
export const CIFAR10_MEAN: number[] = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD: number[] = [0.2023, 0.1994, 0.2010];

export const CIFAR10_DIR_NAME = 'cifar-10-batches-bin';
export const CIFAR10_ARCHIVE_NAME = 'cifar-10-binary.tar.gz';
export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_ARCHIVE_BYTES = 170_052_171;
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
export const CIFAR10_TRAIN_FILES: readonly string[] = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES: readonly string[] = ['test_batch.bin'];

const SIDE = 32, CHANNELS = 3;
const PIXELS = CHANNELS * SIDE * SIDE;
const RECORD = 1 + PIXELS;
/** Records in every file of the real dataset (checked with `strict`). */
const RECORDS_PER_FILE = 10_000;

const hasAllFiles = (dir: string) => [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].every((f) => fs.existsSync(path.join(dir, f)));

/** `dir/cifar-10-batches-bin` if it exists, else `dir` itself (callers may pass either). */
function batchesDir(dir: string): string {
  const inner = path.join(dir, CIFAR10_DIR_NAME);
  return fs.existsSync(inner) ? inner : dir;
}

/** Load one split into memory; `strict` also requires the real dataset's 10000 records per file. */
export function loadCifar10(dir: string, split: 'train' | 'test', o: { strict?: boolean } = {}): ImageDataset {
  const binDir = batchesDir(dir);
  const again = `delete ${binDir} and run again to unpack (or download) CIFAR-10 afresh`;
  const buffers = (split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES).map((name) => {
    const file = path.join(binDir, name);
    if (!fs.existsSync(file)) throw new Error(`${file} not found: CIFAR-10 is incomplete in ${binDir}; ${again}`);
    const data = fs.readFileSync(file);
    if (data.length === 0 || data.length % RECORD !== 0) {
      throw new Error(`${file} is truncated or corrupt: ${data.length} bytes is not a whole number of ${RECORD}-byte records (1 label + ${PIXELS} pixels); ${again}`);
    }
    const records = data.length / RECORD;
    if (o.strict && records !== RECORDS_PER_FILE) throw new Error(`${file} has ${records} records, expected ${RECORDS_PER_FILE}; ${again}`);
    for (let r = 0; r < records; r++) {
      const label = data[r * RECORD]!;
      if (label >= CIFAR10_CLASSES.length) throw new Error(`${file} is corrupt: record ${r} has label ${label}, expected 0..${CIFAR10_CLASSES.length - 1}; ${again}`);
    }
    return data;
  });

  const count = buffers.reduce((n, b) => n + b.length / RECORD, 0);
  const images = new Uint8Array(count * PIXELS), labels = new Uint8Array(count);
  let n = 0;
  for (const data of buffers) {
    for (let off = 0; off < data.length; off += RECORD, n++) {
      labels[n] = data[off]!;
      images.set(data.subarray(off + 1, off + RECORD), n * PIXELS);
    }
  }
  return {
    name: `CIFAR-10 ${split}`, images, labels, count, channels: CHANNELS, height: SIDE, width: SIDE,
    classes: [...CIFAR10_CLASSES], mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD],
  };
}

export interface EnsureCifar10Options {
  /** Where to download the archive from (default CIFAR10_URL). */
  url?: string;
  /** A local archive to unpack (default `<dataDir>/cifar-10-binary.tar.gz`, downloaded there if absent). */
  archive?: string;
  /** Expected MD5 of the archive (default CIFAR10_MD5; tests pass their own small archives' sums). */
  md5?: string;
  /** Never download: use what is on disk or fail saying where to put it. */
  offline?: boolean;
  onProgress?: (received: number, total: number) => void;
}

async function md5File(file: string): Promise<string> {
  const hash = crypto.createHash('md5');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The directory holding the .bin files, fetching and unpacking the archive first if needed. */
export async function ensureCifar10(dataDir: string, o: EnsureCifar10Options = {}): Promise<string> {
  for (const dir of [path.join(dataDir, CIFAR10_DIR_NAME), dataDir]) if (hasAllFiles(dir)) return dir;

  const binDir = path.join(dataDir, CIFAR10_DIR_NAME);
  const archive = o.archive ?? path.join(dataDir, CIFAR10_ARCHIVE_NAME);
  const url = o.url ?? CIFAR10_URL;
  const md5 = (o.md5 ?? CIFAR10_MD5).toLowerCase();
  const whereToPut = `download ${url} yourself and put it at ${archive} (it is unpacked on the next run), ` +
    `or unpack it so that ${binDir} holds ${CIFAR10_TRAIN_FILES.join(', ')} and ${CIFAR10_TEST_FILES.join(', ')}; or pass --data-dir DIR`;

  if (fs.existsSync(archive)) {
    const got = await md5File(archive);
    if (got !== md5) {
      throw new Error(`${archive} has MD5 ${got}, expected ${md5}: it is incomplete, corrupt or not the CIFAR-10 binary archive; delete it and ${whereToPut}`);
    }
  } else if (o.archive) {
    throw new Error(`CIFAR-10 archive ${archive} not found; ${whereToPut}`);
  } else if (o.offline) {
    throw new Error(`CIFAR-10 not found: neither ${binDir} nor ${archive} exists and downloading is off; ${whereToPut}`);
  } else {
    await fetchArchive(url, archive, md5, whereToPut, o.onProgress);
  }
  return unpackCifar10(archive, dataDir);
}

/** Download to `<archive>.part`, check the MD5, then move it into place: a bad file never sits at `archive`. */
async function fetchArchive(url: string, archive: string, md5: string, whereToPut: string, onProgress?: (received: number, total: number) => void): Promise<void> {
  const part = archive + '.part';
  fs.mkdirSync(path.dirname(archive), { recursive: true });
  let got: string;
  try {
    got = (await downloadFile(url, part, { onProgress, ...(url === CIFAR10_URL ? { expectedBytes: CIFAR10_ARCHIVE_BYTES } : {}) })).md5;
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    const binDir = path.join(path.dirname(archive), CIFAR10_DIR_NAME);
    if (e.kind === 'unreachable') {
      throw new Error(`CIFAR-10 not found: neither ${binDir} nor ${archive} exists, and downloading ${url} failed (${e.message}); ${whereToPut}`);
    }
    if (e.kind === 'http') throw new Error(`downloading CIFAR-10 from ${url} failed: ${e.message}; check --download-url, or ${whereToPut}`);
    throw new Error(`downloading CIFAR-10 from ${url} was interrupted after ${e.received} of ${e.total || 'an unknown number of'} bytes (${e.message}); ` +
      `the partial file was removed: run again to retry, or ${whereToPut}`);
  }
  if (got !== md5) {
    fs.rmSync(part, { force: true });
    throw new Error(`the archive downloaded from ${url} has MD5 ${got}, expected ${md5}; it was removed. ` +
      `Run again to retry; if it persists the URL does not serve the CIFAR-10 binary archive: check --download-url, or ${whereToPut}`);
  }
  fs.renameSync(part, archive);
}

/**
 * Unpack a CIFAR-10 archive into `dataDir`, returning `<dataDir>/cifar-10-batches-bin`. It is
 * unpacked into a staging directory first, so a failure (a bad entry, a truncated archive) leaves
 * nothing half-written behind.
 */
export async function unpackCifar10(archive: string, dataDir: string): Promise<string> {
  fs.mkdirSync(dataDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(dataDir, '.cifar-10-unpack-'));
  try {
    try {
      await extractTarGz(archive, staging);
    } catch (e) {
      const msg = (e as Error).message;
      if (msg.startsWith('refusing')) throw e;
      throw new Error(`cannot unpack ${archive}: ${msg}; the archive is damaged: delete it and run again to download it afresh`);
    }
    const unpacked = path.join(staging, CIFAR10_DIR_NAME);
    if (!hasAllFiles(unpacked)) {
      throw new Error(`${archive} does not hold ${CIFAR10_DIR_NAME}/ with ${[...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].join(', ')}: it is not the CIFAR-10 binary archive`);
    }
    const target = path.join(dataDir, CIFAR10_DIR_NAME);
    fs.rmSync(target, { recursive: true, force: true }); // an incomplete earlier copy
    fs.renameSync(unpacked, target);
    return target;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
