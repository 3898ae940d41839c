// How many images one forward/backward pass takes (`--micro-batch M`): a step's --batch-size N images
// run as N/M micro-batches whose gradients add up before one optimizer update (train/step.ts). A tensor
// over the storage binding limit is bound in windows of images (kernels/windows.ts), so what bounds a
// pass is the adapter's largest buffer (maxBufferSize), which must hold its largest activation whole,
// and a window must hold at least one image. Without --micro-batch the whole batch runs at once when it
// fits, else the largest divisor of N that does. Pure arithmetic on (N, M, bytes per image, limits): no
// device here, so the decisions are unit-tested with any limits (train/adapter.ts applies them here).

/** The adapter limits a tensor must fit (WebGPU's maxStorageBufferBindingSize and maxBufferSize). */
export interface TensorLimits { binding: number; buffer: number }

/** The largest activation of one image: what it is (e.g. `first_conv.0 output [48, 112, 112] f32`) and its bytes. */
export interface LargestActivation { name: string; bytes: number }

export interface MicroBatchChoice {
  /** Images per forward/backward pass (a divisor of the batch). */
  micro: number;
  /** Micro-batches per step. */
  count: number;
  /** True when the batch did not fit whole and the size was chosen here (no --micro-batch). */
  auto: boolean;
  /** The most images whose largest activation fits one buffer. */
  fits: number;
}

export const divisors = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 2 : 0)} MiB`;
const listed = (xs: readonly number[]) => (xs.length < 2 ? `${xs[0]}` : `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}`);

/** The divisors of `batch` nearest `m`: the largest below it and the smallest above it (those that exist). */
export function nearestDivisors(batch: number, m: number): number[] {
  const d = divisors(batch);
  return [d.filter((x) => x < m).at(-1), d.find((x) => x > m)].filter((x): x is number => x !== undefined);
}

/** --micro-batch M (0: automatic) against --batch-size N: M must divide N; the message names both flags and what would do. */
export function microBatchError(batch: number, micro: number): string | null {
  if (micro === 0 || batch % micro === 0) return null;
  if (micro > batch) return `--micro-batch ${micro} is larger than --batch-size ${batch}: use --micro-batch ${batch} (one pass per step) or a divisor of ${batch}, or 0 to choose automatically`;
  const lower = Math.floor(batch / micro) * micro;
  return `--batch-size ${batch} is not a multiple of --micro-batch ${micro}: use --micro-batch ${listed(nearestDivisors(batch, micro))} ` +
    `(the divisors of ${batch} nearest ${micro}), or --batch-size ${listed([lower, lower + micro].filter((b) => b > 0))}`;
}

/** Why a tensor of `bytes` cannot exist on this adapter, naming the limit it is over; null when it fits. */
export function overLimit(what: string, bytes: number, limits: TensorLimits): string | null {
  if (bytes > limits.buffer) return `${what} is ${mib(bytes)}, over this adapter's largest buffer (maxBufferSize ${mib(limits.buffer)})`;
  return null;
}

/**
 * The micro-batch of a step of `batch` images: `requested` (--micro-batch, 0 = automatic) when it
 * divides the batch and fits; automatically the whole batch when it fits, else the largest divisor
 * that does. Throws, naming the tensor, its size and the limit, when a requested size does not fit
 * or not even one image does.
 */
export function chooseMicroBatch(batch: number, requested: number, largest: LargestActivation, limits: TensorLimits): MicroBatchChoice {
  const bad = microBatchError(batch, requested);
  if (bad) throw new Error(bad);
  const one = overLimit(`one image's largest activation (${largest.name})`, largest.bytes, limits) ??
    (largest.bytes > limits.binding ? `one image's largest activation (${largest.name}) is ${mib(largest.bytes)}, over this adapter's ${mib(limits.binding)} storage binding limit (a binding window holds at least one image)` : null);
  if (one) throw new Error(`${one}: no batch fits; use a smaller --image-size or --model-size`);
  const fits = Math.floor(limits.buffer / largest.bytes);
  const fitting = divisors(batch).filter((d) => d <= fits);
  if (requested > 0) {
    const over = overLimit(`the largest activation (${largest.name}, times ${requested} images)`, largest.bytes * requested, limits);
    if (over) throw new Error(`--micro-batch ${requested}: ${over}; use --micro-batch ${fitting.at(-1)} or less (the largest divisor of --batch-size ${batch} that fits)`);
    return { micro: requested, count: batch / requested, auto: false, fits };
  }
  const micro = fitting.at(-1)!; // 1 always divides and fits
  return { micro, count: batch / micro, auto: micro < batch, fits };
}

/** The line a run logs when it split its batch by itself: why, what it does to batch norm, how to choose another. */
export function autoChoiceLine(batch: number, c: MicroBatchChoice, largest: LargestActivation, limits: TensorLimits): string {
  return `micro-batches: --batch-size ${batch} does not fit this adapter in one pass (its largest activation, ${largest.name} times ${batch} images, ` +
    `would be ${mib(largest.bytes * batch)}, over the largest buffer (maxBufferSize ${mib(limits.buffer)})), so each step runs ${c.count} micro-batches of ${c.micro} and accumulates their gradients ` +
    `into one update of the whole batch; batch-norm statistics are per micro-batch of ${c.micro} (as with gradient accumulation in PyTorch). ` +
    `Choose another with --micro-batch M: ${listed(divisors(batch).filter((d) => d <= c.fits))} fit here`;
}
