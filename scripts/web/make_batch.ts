// Writes scripts/web/fashion_mnist_64.bin, the demo page's training batch: the first 64 Fashion-MNIST
// training images with their labels (64 label bytes, then 64 28x28 grayscale images; demo_model.ts
// parseBatch reads it). Run once, where dataset-fashion-mnist is installed:
//   node --import tsx scripts/web/make_batch.ts
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { loadFashionMnist } from '../../train/data/fashion_mnist.ts';

const COUNT = 64;
const ds = loadFashionMnist(undefined, 'train');
const plane = ds.height * ds.width;
const out = new Uint8Array(COUNT * (1 + plane));
out.set(ds.labels.subarray(0, COUNT), 0);
out.set(ds.images.subarray(0, COUNT * plane), COUNT);
const file = new URL('./fashion_mnist_64.bin', import.meta.url).pathname;
// atomic: a reader never sees half a file
const fd = openSync(`${file}.tmp`, 'w');
writeSync(fd, out);
fsyncSync(fd);
closeSync(fd);
renameSync(`${file}.tmp`, file);
console.log(`${file}: ${COUNT} images, ${out.length} bytes`);
