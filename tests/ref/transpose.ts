// float64 reference for kernels/transpose.ts: axis permutation of a row-major array.

/** y with y.shape[d] = shape[perm[d]] and y[i_0, ..] = x[.., i_d at axis perm[d], ..]. */
export function permuteRef(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float64Array {
  const r = shape.length;
  const xs = new Array<number>(r);
  for (let d = r - 1, acc = 1; d >= 0; d--) { xs[d] = acc; acc *= shape[d]; }
  const ys = perm.map((p) => shape[p]);
  const y = new Float64Array(x.length);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < y.length; i++) {
    let j = 0;
    for (let d = 0; d < r; d++) j += idx[d] * xs[perm[d]];
    y[i] = x[j];
    for (let d = r - 1; d >= 0; d--) { if (++idx[d] < ys[d]) break; idx[d] = 0; }
  }
  return y;
}

/** The permutation swapping axes d0 and d1 of a rank-r array. */
export function swapPerm(r: number, d0: number, d1: number): number[] {
  const p = [...Array(r).keys()];
  [p[d0], p[d1]] = [p[d1], p[d0]];
  return p;
}
