// Test access to the GPU: one device per process, upload/download in one call, dtypes under test.
import { initDevice, describeDevice, Tensor, roundToHalf, type DType, type Shape, type TensorOptions } from '../../engine/index.ts';

await initDevice();
if (!process.env.QUIET_ADAPTER) { console.log(`adapter: ${describeDevice()}`); process.env.QUIET_ADAPTER = '1'; }

/** Every dtype each kernel is tested with. */
export const DTYPES_UNDER_TEST: DType[] = ['f32', 'f16'];

export const upload = (data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32', opts: TensorOptions = {}) =>
  Tensor.from(data, shape, dtype, opts);

/** Read back and dispose. */
export async function download(t: Tensor): Promise<Float32Array> {
  try { return await t.read(); } finally { t.dispose(); }
}

/** Values as the GPU will hold them in `dtype` (so bounds measure the kernel, not input rounding). */
export function quantize(x: ArrayLike<number>, dtype: DType): Float64Array {
  return Float64Array.from(dtype === 'f32' ? Float32Array.from(x) : roundToHalf(x));
}
