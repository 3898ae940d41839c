// The augmentation's per-image parameters, made on the host: random crops and flips from a seeded
// stream, and the affine map each one gives, in the [N, PARAMS] layout kernels/augment.ts samples
// with (its header explains the map). Also the crop geometry each dataset is trained and tested at.
// CIFAR-10: the seed's RandomCrop(32, padding 4). Fashion-MNIST: 28x28 padded to a 32x32 crop
// (padding 6 for the random crop, so offsets span the same ±4 pixels; a centred 2-pixel pad for
// testing).
import { mat2d } from 'gl-matrix';
import { PARAMS } from '../../kernels/augment.ts';
import type { Rng } from '../../engine/index.ts';

/** The crop every dataset is trained at, before the resize to the model's input size. */
export const CROP = 32;
/** The seed's random-crop padding on a 32x32 image. */
export const CROP_PAD = 4;

/** One image's random choices: crop origin in the padded image, horizontal flip. */
export interface CropChoice { oy: number; ox: number; flip: boolean }
/** Source H x W, zero padding `pad` per side, square crop `crop`, output side `size`, random flips. */
export interface TrainOpts { H: number; W: number; pad: number; crop: number; size: number; flip: boolean }

/**
 * PARAMS floats for one image: zero-pad by `pad`, crop Kh x Kw at (oy, ox) of the padded image,
 * flip if asked, resize to size x size. The test transform is pad 0, crop H x W at (0, 0).
 */
export function imageParams(pad: number, Kh: number, Kw: number, size: number, c: CropChoice): number[] {
  const x0 = c.ox - pad, y0 = c.oy - pad;   // crop origin in source coordinates
  // each call right-multiplies, so the list reads from the source side down to the output pixel
  const m: mat2d = [1, 0, 0, 1, 0, 0];       // plain numbers: composed in float64, rounded once on upload
  mat2d.translate(m, m, [x0, y0]);
  if (c.flip) { mat2d.translate(m, m, [Kw - 1, 0]); mat2d.scale(m, m, [-1, 1]); }
  mat2d.translate(m, m, [-0.5, -0.5]);
  mat2d.scale(m, m, [Kw / size, Kh / size]);
  mat2d.translate(m, m, [0.5, 0.5]);
  const [a, b, cc, d, tx, ty] = m;
  if (b !== 0 || cc !== 0) throw new Error('imageParams: the kernel samples separably, the map must not mix the axes');
  return [a, tx, d, ty, x0, y0, x0 + Kw - 1, y0 + Kh - 1];
}

/**
 * Each image's crop origin (oy, then ox, uniform in 0..H+2·pad-crop) and flip (p = 0.5; no draw
 * when flips are off), from a seeded stream.
 */
export function randomCrops(rng: Rng, N: number, o: TrainOpts): CropChoice[] {
  const ry = o.H + 2 * o.pad - o.crop + 1, rx = o.W + 2 * o.pad - o.crop + 1;
  if (!(ry > 0 && rx > 0)) throw new Error(`randomCrops: crop ${o.crop} does not fit ${o.H}x${o.W} padded by ${o.pad}`);
  return Array.from({ length: N }, () => {
    const oy = rng.int(ry), ox = rng.int(rx);
    return { oy, ox, flip: o.flip && rng.next() < 0.5 };
  });
}

/** Params [N·PARAMS] of the train transform (random crop of the padded image, flip, resize). */
export function trainTransforms(rng: Rng, N: number, o: TrainOpts): Float32Array {
  return Float32Array.from(randomCrops(rng, N, o).flatMap((c) => imageParams(o.pad, o.crop, o.crop, o.size, c)));
}

/** Params [N·PARAMS] of the test transform: resize the whole H x W image to size x size. */
export function testTransforms(N: number, o: { H: number; W: number; size: number }): Float32Array {
  const one = imageParams(0, o.H, o.W, o.size, { oy: 0, ox: 0, flip: false });
  return Float32Array.from({ length: N * PARAMS }, (_, i) => one[i % PARAMS]);
}

/** A dataset's train transform: random crop (CROP, padded so offsets span ±CROP_PAD around the centre), flip, resize to `size`. */
export function trainGeometry(ds: { height: number; width: number }, size: number, flip: boolean): TrainOpts {
  if (ds.height !== ds.width || ds.height > CROP) throw new Error(`images are ${ds.height}x${ds.width}; the train transform expects square images of at most ${CROP}x${CROP}`);
  return { H: ds.height, W: ds.width, pad: CROP_PAD + (CROP - ds.height) / 2, crop: CROP, size, flip };
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
