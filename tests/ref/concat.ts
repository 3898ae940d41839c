// float64 references for concat.ts: channel concat (optionally followed by ReLU) and its backward.
type Shape4 = readonly [number, number, number, number];

/** y [N, Ca + Cb, H, W] from a [N, Ca, H, W] and b [N, Cb, H, W]. */
export function concatRef(a: ArrayLike<number>, b: ArrayLike<number>, aShape: Shape4, Cb: number, relu = false): Float64Array {
  const [N, Ca, H, W] = aShape, HW = H * W, C = Ca + Cb;
  const y = new Float64Array(N * C * HW);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < HW; i++) {
        const v = c < Ca ? a[(n * Ca + c) * HW + i] : b[(n * Cb + c - Ca) * HW + i];
        y[(n * C + c) * HW + i] = relu ? Math.max(v, 0) : v;
      }
    }
  }
  return y;
}

/** da, db from dy [N, Ca + Cb, H, W]; with `y` (the ReLU's output), zero where y <= 0. */
export function concatBackwardRef(dy: ArrayLike<number>, aShape: Shape4, Cb: number, y?: ArrayLike<number>): { da: Float64Array; db: Float64Array } {
  const [N, Ca, H, W] = aShape, HW = H * W, C = Ca + Cb;
  const da = new Float64Array(N * Ca * HW), db = new Float64Array(N * Cb * HW);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        const g = !y || y[j] > 0 ? dy[j] : 0;
        if (c < Ca) da[(n * Ca + c) * HW + i] = g; else db[(n * Cb + c - Ca) * HW + i] = g;
      }
    }
  }
  return { da, db };
}
