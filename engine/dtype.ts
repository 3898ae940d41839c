// Element types. 'f16' is stored natively where the device has shader-f16, otherwise as packed
// halves (two per u32, pack2x16float/unpack2x16float) with f32 arithmetic; either way a tensor of n
// halves occupies ceil(n/2) 32-bit words, so host code never needs to know which.
export type DType = 'f32' | 'f16';

export const DTYPES: readonly DType[] = ['f32', 'f16'];

/** Bytes a tensor of `n` elements occupies on the GPU (always a multiple of 4). */
export const storageBytes = (n: number, dtype: DType): number => (dtype === 'f32' ? n * 4 : Math.ceil(n / 2) * 4);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of a number, round-to-nearest-even, with overflow to Inf (what the GPU stores). */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0)); // carry may round into Inf, as it should
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Round every value to the nearest half (the values an f16 tensor actually holds). */
export function roundToHalf(data: ArrayLike<number>): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = fromHalfBits(toHalfBits(data[i]));
  return out;
}

/** Host array -> the bytes the GPU stores for `dtype`. */
export function encode(data: ArrayLike<number>, dtype: DType): ArrayBuffer {
  if (dtype === 'f32') {
    const out = new Float32Array(data.length);
    out.set(data);
    return out.buffer;
  }
  const out = new Uint16Array(Math.ceil(data.length / 2) * 2);
  for (let i = 0; i < data.length; i++) out[i] = toHalfBits(data[i]);
  return out.buffer;
}

/** GPU bytes of `n` elements of `dtype` -> Float32Array. */
export function decode(bytes: ArrayBuffer, n: number, dtype: DType): Float32Array {
  if (dtype === 'f32') return new Float32Array(bytes, 0, n).slice();
  const halves = new Uint16Array(bytes, 0, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = fromHalfBits(halves[i]);
  return out;
}
