// float64 reference for kernels/reduce.ts: the sum over one axis of a row-major array, or over all of it.

/** Σ over `axis` of x [shape] (the axis removed), or over every element into one value. */
export function sumRef(x: ArrayLike<number>, shape: readonly number[], axis?: number): Float64Array {
  const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const [outer, R, inner] = axis === undefined ? [1, x.length, 1] : [prod(shape.slice(0, axis)), shape[axis], prod(shape.slice(axis + 1))];
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let r = 0; r < R; r++) for (let i = 0; i < inner; i++) y[o * inner + i] += x[(o * R + r) * inner + i];
  return y;
}
