// A Fashion-MNIST-shaped directory for tests that spawn the CLIs: uncompressed IDX files
// (train-images-idx3-ubyte, ...) of `count` 28x28 grayscale images per split, 10 classes, each class
// a stripe pattern of its own, so `--dataset fashion-mnist --data-dir DIR` reads it like the real one.
import * as fs from 'node:fs';
import * as path from 'node:path';

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(data)]);
}

export function writeTinyFashionMnist(dir: string, count = 32): string {
  fs.mkdirSync(dir, { recursive: true });
  const images = new Uint8Array(count * 784), labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const k = (labels[n] = n % 10);
    for (let p = 0; p < 784; p++) images[n * 784 + p] = Math.floor((k < 5 ? p % 28 : p / 28) / (2 + (k % 5))) % 2 ? 200 : 30 + ((n * 37 + p) % 40);
  }
  for (const split of ['train', 't10k']) {
    fs.writeFileSync(path.join(dir, `${split}-images-idx3-ubyte`), idx(2051, [count, 28, 28], images));
    fs.writeFileSync(path.join(dir, `${split}-labels-idx1-ubyte`), idx(2049, [count], labels));
  }
  return dir;
}
