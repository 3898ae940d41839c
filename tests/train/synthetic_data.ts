// A small synthetic image dataset for end-to-end training tests: 32x32 RGB, 10 classes, each class a
// colour from a fixed palette with stripes whose orientation and period depend on the class, plus
// per-image noise, so it is learnable through random crops and flips but not from one pixel.
import { Rng } from '../../engine/index.ts';
import type { ImageDataset } from '../../train/data/dataset.ts';

const PALETTE = [[230, 40, 40], [40, 200, 40], [40, 60, 230], [220, 220, 40], [220, 40, 220], [40, 220, 220], [250, 140, 20], [120, 60, 20], [160, 160, 160], [20, 20, 20]];

export function syntheticDataset(count: number, seed = 1, name = 'synthetic'): ImageDataset {
  const rng = new Rng(seed);
  const H = 32, W = 32, plane = H * W;
  const images = new Uint8Array(count * 3 * plane), labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const k = n % 10;
    labels[n] = k;
    const period = 3 + (k % 5), vertical = k < 5;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const stripe = Math.floor((vertical ? x : y) / period) % 2 === 0 ? 1 : 0.45;
          const v = PALETTE[k]![c]! * stripe + (rng.next() - 0.5) * 40;
          images[(n * 3 + c) * plane + y * W + x] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return {
    name, images, labels, count, channels: 3, height: H, width: W,
    classes: ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'], mean: [0.5, 0.45, 0.45], std: [0.3, 0.3, 0.3],
  };
}
