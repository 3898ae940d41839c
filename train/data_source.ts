// Datasets by name, and the transform geometry each one uses.
// CIFAR-10: the seed's RandomCrop(32, padding 4). Fashion-MNIST: 28x28 grayscale padded to a 32x32
// crop (padding 6 for the random crop, so offsets span the same ±4 pixels; a centred 2-pixel pad
// for testing) with its own mean/std. The model's stem takes 3 channels, so grayscale images are
// replicated to RGB once at load time (the same function as a 1-channel stem whose weights are the
// sum over the three input channels; costs 2x the upload of a 28x28 batch, negligible).
import { ensureCifar10, loadCifar10 } from './data/cifar10.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from './data/fashion_mnist.ts';
import { progressBar, type ProgressBar } from './data/progress.ts';
import type { ImageDataset } from './data/dataset.ts';
import type { DatasetName } from './config.ts';
import { imageParams, trainTransforms, PARAMS, type TrainOpts } from '../kernels/augment.ts';
import type { Rng } from '../engine/index.ts';

/** The crop every dataset is trained at, before the resize to the model's input size. */
export const CROP = 32;
/** The seed's random-crop padding on a 32x32 image. */
export const CROP_PAD = 4;

export function defaultDataDir(dataset: DatasetName): string {
  return dataset === 'cifar10' ? 'dataset' : FASHION_MNIST_DIR;
}

export interface LoadOptions { dataDir?: string | null; downloadUrl?: string | null; quiet?: boolean }

/** Training images per dataset (for estimates made before the data is loaded). */
export const TRAIN_IMAGES: Record<DatasetName, number> = { cifar10: 50_000, 'fashion-mnist': 60_000 };

/** Load one split; CIFAR-10 is downloaded (with a progress bar) if it is not there yet. */
export async function loadDataset(name: DatasetName, split: 'train' | 'test', o: LoadOptions = {}): Promise<ImageDataset> {
  const dir = o.dataDir ?? defaultDataDir(name);
  if (name === 'fashion-mnist') return toRgb(loadFashionMnist(dir, split));
  const dl: { bar: ProgressBar | null } = { bar: null };
  const binDir = await ensureCifar10(dir, {
    ...(o.downloadUrl ? { url: o.downloadUrl } : {}),
    onProgress: o.quiet ? undefined : (n, total) => { (dl.bar ??= progressBar({ label: 'download CIFAR-10', total, unit: 'bytes' })).update(n); },
  });
  dl.bar?.done();
  return loadCifar10(binDir, split);
}

/** A grayscale dataset as 3 identical channels (RGB datasets are returned as they are). */
export function toRgb(ds: ImageDataset): ImageDataset {
  if (ds.channels === 3) return ds;
  if (ds.channels !== 1) throw new Error(`${ds.name}: ${ds.channels} channels; the model takes 1 (replicated) or 3`);
  const plane = ds.height * ds.width;
  const images = new Uint8Array(ds.count * 3 * plane);
  for (let n = 0; n < ds.count; n++) {
    const img = ds.images.subarray(n * plane, (n + 1) * plane);
    for (let c = 0; c < 3; c++) images.set(img, (n * 3 + c) * plane);
  }
  return { ...ds, images, channels: 3, mean: [ds.mean[0]!, ds.mean[0]!, ds.mean[0]!], std: [ds.std[0]!, ds.std[0]!, ds.std[0]!] };
}

/** Random crop (CROP, padded so offsets span ±CROP_PAD around the centre), flip, resize to `size`. */
export function trainGeometry(ds: { height: number; width: number }, size: number, flip: boolean): TrainOpts {
  if (ds.height !== ds.width || ds.height > CROP) throw new Error(`images are ${ds.height}x${ds.width}; the train transform expects square images of at most ${CROP}x${CROP}`);
  return { H: ds.height, W: ds.width, pad: CROP_PAD + (CROP - ds.height) / 2, crop: CROP, size, flip };
}

export function trainParams(rng: Rng, N: number, g: TrainOpts): Float32Array {
  return trainTransforms(rng, N, g);
}

/**
 * The test transform: the centred CROP x CROP view (the whole image for CIFAR-10, a 2-pixel zero
 * border for 28x28 Fashion-MNIST), resized to `size`. Any other image size (a user's PNG) is
 * resized as a whole, as the seed's test transform does.
 */
export function testParams(N: number, ds: { height: number; width: number }, size: number): Float32Array {
  const H = ds.height, W = ds.width;
  const pad = H === W && H < CROP && (CROP - H) % 2 === 0 ? (CROP - H) / 2 : 0;
  const K = pad ? CROP : 0;
  const one = imageParams(pad, K || H, K || W, size, { oy: 0, ox: 0, flip: false });
  return Float32Array.from({ length: N * PARAMS }, (_, i) => one[i % PARAMS]!);
}
