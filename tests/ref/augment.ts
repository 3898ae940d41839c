// float64 reference for kernels/augment.ts, written as the literal pipeline rather than the affine map:
// zero-pad -> crop -> horizontal flip -> bilinear resize (half-pixel centres, positions clamped to the
// edge of the cropped image) -> /255 -> (v - mean[c]) / std[c]. Each stage materialises its image.

export interface RefCrop { oy: number; ox: number; flip: boolean }
export interface RefOpts { pad: number; Kh: number; Kw: number; size: number; mean: readonly number[]; std: readonly number[] }

/** Bilinear resize of a h x w image to S x S: src = (dst + 0.5)·in/out - 0.5, clamped to [0, in-1]. */
export function resizeRef(img: Float64Array, h: number, w: number, S: number): Float64Array {
  const out = new Float64Array(S * S);
  const axis = (o: number, n: number) => {
    const s = Math.min(Math.max((o + 0.5) * (n / S) - 0.5, 0), n - 1);
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(i0 + 1, n - 1), f: s - i0 };
  };
  for (let oh = 0; oh < S; oh++) {
    const r = axis(oh, h);
    for (let ow = 0; ow < S; ow++) {
      const c = axis(ow, w);
      const at = (y: number, x: number) => img[y * w + x];
      const top = at(r.i0, c.i0) * (1 - c.f) + at(r.i0, c.i1) * c.f;
      const bot = at(r.i1, c.i0) * (1 - c.f) + at(r.i1, c.i1) * c.f;
      out[oh * S + ow] = top * (1 - r.f) + bot * r.f;
    }
  }
  return out;
}

/** The transform of a uint8 NCHW batch [N, C, H, W] with one crop choice per image -> [N, C, S, S]. */
export function augmentRef(src: Uint8Array, [N, C, H, W]: readonly number[], crops: readonly RefCrop[], o: RefOpts): Float64Array {
  const { pad, Kh, Kw, size: S } = o;
  const Hp = H + 2 * pad, Wp = W + 2 * pad;
  const y = new Float64Array(N * C * S * S);
  for (let n = 0; n < N; n++) {
    const { oy, ox, flip } = crops[n];
    for (let c = 0; c < C; c++) {
      const plane = src.subarray((n * C + c) * H * W, (n * C + c + 1) * H * W);
      const padded = new Float64Array(Hp * Wp);
      for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) padded[(i + pad) * Wp + j + pad] = plane[i * W + j];
      const crop = new Float64Array(Kh * Kw);
      for (let i = 0; i < Kh; i++) for (let j = 0; j < Kw; j++) crop[i * Kw + j] = padded[(oy + i) * Wp + ox + j];
      const flipped = flip ? crop.map((_, k) => crop[Math.floor(k / Kw) * Kw + (Kw - 1 - (k % Kw))]) : crop;
      const resized = resizeRef(flipped, Kh, Kw, S);
      for (let k = 0; k < S * S; k++) y[(n * C + c) * S * S + k] = (resized[k] / 255 - o.mean[c]) / o.std[c];
    }
  }
  return y;
}
