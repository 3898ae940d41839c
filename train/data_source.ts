// Datasets by name (their crop geometry is in data/transforms.ts). Fashion-MNIST's 28x28 grayscale
// images come with their own mean/std. The model's stem takes 3 channels, so grayscale images are
// replicated to RGB once at load time (the same function as a 1-channel stem whose weights are the
// sum over the three input channels; costs 2x the upload of a 28x28 batch, negligible).
import { ensureCifar10, loadCifar10 } from './data/cifar10.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from './data/fashion_mnist.ts';
import { progressBar, type ProgressBar } from './data/progress.ts';
import type { ImageDataset } from './data/dataset.ts';
import type { DatasetName } from './config.ts';

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
