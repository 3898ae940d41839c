// Fashion-MNIST from its IDX files (Debian's dataset-fashion-mnist installs them gzipped under
// FASHION_MNIST_DIR; plain, already-gunzipped files are read too). 28x28 grayscale, 10 classes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { ImageDataset } from './dataset.ts';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
/** Mean and std of the training images' pixels in [0, 1] (checked against the data in the tests). */
export const FASHION_MNIST_MEAN: number[] = [0.2860];
export const FASHION_MNIST_STD: number[] = [0.3530];

const IMAGES_MAGIC = 2051, LABELS_MAGIC = 2049;
const FILE_PREFIX = { train: 'train', test: 't10k' } as const;
const INSTALL_HINT = 'install it with `apt-get install dataset-fashion-mnist` or pass --data-dir DIR';

/** `base` or `base.gz` in dir, the gzipped one first. */
function findFile(dir: string, base: string): string {
  for (const f of [base + '.gz', base]) if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
  throw new Error(`${path.join(dir, base)}(.gz) not found: Fashion-MNIST is incomplete in ${dir}; ${INSTALL_HINT}`);
}

/** The bytes of an IDX file, gunzipped if it is gzipped (by its magic bytes, not its name). */
function readMaybeGzipped(file: string): Buffer {
  const raw = fs.readFileSync(file);
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return zlib.gunzipSync(raw);
  } catch (e) {
    throw new Error(`${file} is corrupt: cannot gunzip it (${(e as Error).message}); reinstall dataset-fashion-mnist or replace the file`);
  }
}

/** Parse an IDX file of unsigned bytes: checks the magic number and that the data fills the dims. */
function readIdx(file: string, magic: number, rank: number): { dims: number[]; data: Uint8Array } {
  const buf = readMaybeGzipped(file);
  const header = 4 + 4 * rank;
  const corrupt = (why: string) => new Error(`${file} is truncated or corrupt: ${why}; reinstall dataset-fashion-mnist or replace the file`);
  if (buf.length < header) throw corrupt(`${buf.length} bytes is shorter than the ${header}-byte IDX header`);
  const found = buf.readUInt32BE(0);
  if (found !== magic) {
    throw new Error(`${file}: magic number ${found}, expected ${magic} (an IDX ${magic === IMAGES_MAGIC ? 'image' : 'label'} file); is it the right file?`);
  }
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  if (buf.length - header !== expected) throw corrupt(`dims ${dims.join('x')} need ${expected} data bytes, the file has ${buf.length - header}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, expected) };
}

/** Load one split of Fashion-MNIST as a 1-channel ImageDataset. */
export function loadFashionMnist(dir: string = FASHION_MNIST_DIR, split: 'train' | 'test' = 'train'): ImageDataset {
  if (!fs.existsSync(dir)) throw new Error(`Fashion-MNIST directory ${dir} not found: ${INSTALL_HINT}`);
  const prefix = FILE_PREFIX[split];
  const imgFile = findFile(dir, `${prefix}-images-idx3-ubyte`);
  const lblFile = findFile(dir, `${prefix}-labels-idx1-ubyte`);
  const img = readIdx(imgFile, IMAGES_MAGIC, 3);
  const lbl = readIdx(lblFile, LABELS_MAGIC, 1);
  const [count, height, width] = img.dims as [number, number, number];
  if (lbl.dims[0] !== count) throw new Error(`${imgFile} has ${count} images but ${lblFile} has ${lbl.dims[0]} labels; the files do not belong together`);
  const classes = FASHION_MNIST_CLASSES.length;
  for (let i = 0; i < count; i++) {
    if (lbl.data[i]! >= classes) throw new Error(`${lblFile} is corrupt: label ${i} is ${lbl.data[i]}, expected 0..${classes - 1}`);
  }
  return {
    name: `Fashion-MNIST ${split}`, images: img.data, labels: lbl.data, count, channels: 1, height, width,
    classes: [...FASHION_MNIST_CLASSES], mean: [...FASHION_MNIST_MEAN], std: [...FASHION_MNIST_STD],
  };
}
