// In-memory image datasets (uint8, NCHW) and the batch sampler that walks them: a seeded shuffle per
// epoch whose order is a pure function of (seed, epoch), so a position of (epoch, batch) is all a
// checkpoint needs to resume on exactly the same batches.
import { Rng } from '../../engine/rng.ts';

/** A whole split in memory: `images` is count x channels x height x width bytes, NCHW. */
export interface ImageDataset {
  name: string;
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  classes: string[];
  /** Per-channel normalisation, in [0, 1] pixel units. */
  mean: number[];
  std: number[];
}

/** Bytes of one image. */
export function sampleSize(ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}

/**
 * Gather the images and labels at `indices` into the front of preallocated buffers; returns how
 * many samples were copied. The rest of the buffers is left as it was.
 */
export function copyBatch(ds: ImageDataset, indices: ArrayLike<number>, images: Uint8Array, labels: Uint8Array): number {
  const size = sampleSize(ds), n = indices.length;
  if (n * size > images.length) throw new Error(`copyBatch: ${n} samples of ${size} bytes do not fit the image buffer of ${images.length} bytes`);
  if (n > labels.length) throw new Error(`copyBatch: ${n} labels do not fit the label buffer of ${labels.length}`);
  for (let i = 0; i < n; i++) {
    const k = indices[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= ds.count) throw new Error(`copyBatch: index ${k} out of range for ${ds.name} (${ds.count} samples)`);
    images.set(ds.images.subarray(k * size, (k + 1) * size), i * size);
    labels[i] = ds.labels[k]!;
  }
  return n;
}

/**
 * Per-channel mean and (population) standard deviation over all images, in [0, 1] units.
 * Counted through a 256-bin histogram per channel, so it is exact and fast on 47M pixels.
 */
export function computeChannelStats(ds: ImageDataset): { mean: number[]; std: number[] } {
  const plane = ds.height * ds.width;
  const hist = Array.from({ length: ds.channels }, () => new Float64Array(256));
  for (let n = 0; n < ds.count; n++) {
    for (let c = 0; c < ds.channels; c++) {
      const h = hist[c]!, off = (n * ds.channels + c) * plane;
      for (let i = 0; i < plane; i++) h[ds.images[off + i]!]!++;
    }
  }
  const mean: number[] = [], std: number[] = [];
  for (const h of hist) {
    let count = 0, sum = 0, sumSq = 0;
    for (let v = 0; v < 256; v++) { const k = h[v]!, x = v / 255; count += k; sum += k * x; sumSq += k * x * x; }
    const m = count ? sum / count : 0;
    mean.push(m);
    std.push(count ? Math.sqrt(Math.max(0, sumSq / count - m * m)) : 0);
  }
  return { mean, std };
}

export interface SamplerOptions {
  count: number;
  batchSize: number;
  seed: number;
  /** Reshuffle every epoch (default true); false walks 0..count-1 in order. */
  shuffle?: boolean;
  /** Skip the last partial batch of an epoch (default true: every training step has a full batch). */
  dropLast?: boolean;
}

/** A sampler's position, as stored in a checkpoint; seed/count/batchSize guard against a mismatched resume. */
export interface SamplerState { seed: number; count: number; batchSize: number; epoch: number; batch: number }

/** murmur3's finaliser: spreads (seed, epoch) over all 32 bits so nearby pairs give unrelated streams. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class BatchSampler {
  readonly count: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly batchesPerEpoch: number;
  /** The epoch being walked (0-based). */
  epoch = 0;
  /** Batches of `epoch` already handed out. */
  batch = 0;
  private order: Uint32Array | null = null;
  private orderEpoch = -1;

  constructor(o: SamplerOptions) {
    if (!Number.isInteger(o.count) || o.count < 0) throw new Error(`BatchSampler: count must be an integer >= 0, got ${o.count}`);
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`BatchSampler: batchSize must be an integer >= 1, got ${o.batchSize}`);
    this.count = o.count;
    this.batchSize = o.batchSize;
    this.seed = o.seed >>> 0;
    this.shuffle = o.shuffle ?? true;
    this.dropLast = o.dropLast ?? true;
    this.batchesPerEpoch = this.dropLast ? Math.floor(o.count / o.batchSize) : Math.ceil(o.count / o.batchSize);
  }

  /** The sample order of epoch `e`: a permutation of 0..count-1 that depends only on (seed, e). */
  epochOrder(e: number): Uint32Array {
    const order = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) order[i] = i;
    if (this.shuffle) new Rng(mix32(this.seed ^ mix32(e + 0x632be5ab))).shuffle(order);
    return order;
  }

  /**
   * The next batch's indices (a view into the epoch's order: copy it to keep it), or null once the
   * epoch is exhausted; that null also moves on to the next epoch, so `next() ?? next()` always
   * gives a batch when batchesPerEpoch > 0.
   */
  next(): Uint32Array | null {
    if (this.batch >= this.batchesPerEpoch) {
      this.epoch++;
      this.batch = 0;
      return null;
    }
    if (this.orderEpoch !== this.epoch) { this.order = this.epochOrder(this.epoch); this.orderEpoch = this.epoch; }
    const start = this.batch * this.batchSize;
    this.batch++;
    return this.order!.subarray(start, Math.min(start + this.batchSize, this.count));
  }

  /** The rest of the current epoch's batches; the sampler is at the next epoch afterwards. */
  *epochBatches(): Generator<Uint32Array> {
    for (let b = this.next(); b; b = this.next()) yield b;
  }

  state(): SamplerState {
    return { seed: this.seed, count: this.count, batchSize: this.batchSize, epoch: this.epoch, batch: this.batch };
  }

  /** Move to a saved position; the state must come from a sampler over the same data and settings. */
  restore(s: SamplerState): void {
    if (s.seed !== this.seed || s.count !== this.count || s.batchSize !== this.batchSize) {
      throw new Error(`cannot resume the batch order: it was saved for seed=${s.seed} count=${s.count} batchSize=${s.batchSize}, ` +
        `but this run has seed=${this.seed} count=${this.count} batchSize=${this.batchSize} (a different dataset, --seed or --batch-size)`);
    }
    if (!Number.isInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.batch) || s.batch < 0 || s.batch > this.batchesPerEpoch) {
      throw new Error(`cannot resume the batch order: bad position epoch=${s.epoch} batch=${s.batch} (an epoch has ${this.batchesPerEpoch} batches)`);
    }
    this.epoch = s.epoch;
    this.batch = s.batch;
  }
}
