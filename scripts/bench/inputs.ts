// The benchmark's input tensors. Each upload keeps its host values, so a check computes the float64
// reference from exactly what the GPU reads (f16 inputs rounded to halves, as stored).
import { Rng, Tensor, device, numel, roundToHalf, type DType, type Shape } from '../../engine/index.ts';

const held = new WeakMap<Tensor, Float32Array>();

/** A tensor of `dtype` holding `data`, remembered for vals(); refuses one over the largest buffer. */
export function upload(data: Float32Array, shape: Shape, dtype: DType): Tensor {
  const bytes = numel(shape) * (dtype === 'f32' ? 4 : 2), limit = device().limits.maxBufferSize;
  if (bytes > limit) throw new Error(`a ${shape.join('x')} ${dtype} tensor is ${(bytes / 2 ** 20).toFixed(0)} MiB, over this adapter's ${limit / 2 ** 20} MiB largest buffer: use a smaller --batch`);
  const t = Tensor.from(data, shape, dtype);
  held.set(t, data);
  return t;
}

/** The values an upload() tensor holds, in float64. */
export function vals(t: Tensor): Float64Array {
  const data = held.get(t);
  if (!data) throw new Error(`vals: ${t} was not made by upload()`);
  return Float64Array.from(t.dtype === 'f16' ? roundToHalf(data) : data);
}

/** Uniform in [-1, 1): realistic signs for ReLU masks and max-pool winners, no denormals. */
export const uniform = (rng: Rng, shape: Shape): Float32Array => Float32Array.from({ length: numel(shape) }, () => 2 * rng.next() - 1);

/** float64 zeros of a shape: a reference's unused operand (dgrad ignores x's values, wgrad w's). */
export const zeros = (shape: Shape): Float64Array => new Float64Array(numel(shape));
