// float64 references for the elementwise family.
const map2 = (a: ArrayLike<number>, b: ArrayLike<number>, f: (x: number, y: number) => number) => Float64Array.from(a, (x, i) => f(x, b[i]));
export const addRef = (a: ArrayLike<number>, b: ArrayLike<number>) => map2(a, b, (x, y) => x + y);
export const mulRef = (a: ArrayLike<number>, b: ArrayLike<number>) => map2(a, b, (x, y) => x * y);
export const scaleRef = (a: ArrayLike<number>, s: number) => Float64Array.from(a, (x) => s * x);
export const reluRef = (a: ArrayLike<number>) => Float64Array.from(a, (x) => Math.max(x, 0));
export const addReluRef = (a: ArrayLike<number>, b: ArrayLike<number>) => map2(a, b, (x, y) => Math.max(x + y, 0));
/** d/da of relu at a, times dy (0 at the kink, as the GPU rule). */
export const reluBackwardRef = (a: ArrayLike<number>, dy: ArrayLike<number>) => map2(a, dy, (x, d) => (x > 0 ? d : 0));
