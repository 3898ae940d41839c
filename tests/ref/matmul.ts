// float64 references for kernels/matmul.ts: batched matmul with stored-transposed operands and a
// bias, its two gradients, and PyTorch's linear (y = x·w^T + b) with dx, dw, db.
export interface MatmulDims { B: number; M: number; K: number; N: number }
export interface MatmulFlags { transA?: boolean; transB?: boolean }

// element (m, k) of opA and (k, n) of opB in batch b, from the stored layouts
const atA = (a: ArrayLike<number>, d: MatmulDims, f: MatmulFlags, b: number, m: number, k: number) =>
  a[b * d.M * d.K + (f.transA ? k * d.M + m : m * d.K + k)];
const atB = (x: ArrayLike<number>, d: MatmulDims, f: MatmulFlags, b: number, k: number, n: number) =>
  x[b * d.K * d.N + (f.transB ? n * d.K + k : k * d.N + n)];

/** C [B, M, N] = opA(a) · opB(b) (+ bias[n]). */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, d: MatmulDims, f: MatmulFlags = {}, bias?: ArrayLike<number>): Float64Array {
  const c = new Float64Array(d.B * d.M * d.N);
  for (let p = 0; p < d.B; p++) for (let m = 0; m < d.M; m++) for (let n = 0; n < d.N; n++) {
    let s = bias ? bias[n] : 0;
    for (let k = 0; k < d.K; k++) s += atA(a, d, f, p, m, k) * atB(b, d, f, p, k, n);
    c[(p * d.M + m) * d.N + n] = s;
  }
  return c;
}

/** Gradients of Σ dc ⊙ C with respect to a and b, in their stored (possibly transposed) layouts. */
export function matmulBackwardRef(a: ArrayLike<number>, b: ArrayLike<number>, dc: ArrayLike<number>, d: MatmulDims, f: MatmulFlags = {}) {
  const da = new Float64Array(d.B * d.M * d.K), db = new Float64Array(d.B * d.K * d.N);
  for (let p = 0; p < d.B; p++) for (let m = 0; m < d.M; m++) for (let n = 0; n < d.N; n++) {
    const g = dc[(p * d.M + m) * d.N + n];
    for (let k = 0; k < d.K; k++) {
      da[p * d.M * d.K + (f.transA ? k * d.M + m : m * d.K + k)] += g * atB(b, d, f, p, k, n);
      db[p * d.K * d.N + (f.transB ? n * d.K + k : k * d.N + n)] += g * atA(a, d, f, p, m, k);
    }
  }
  return { da, db };
}

/** y [N, out] = x [N, in] · w[out, in]^T + b [out]. */
export const linearRef = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, N: number, IN: number, OUT: number) =>
  matmulRef(x, w, { B: 1, M: N, K: IN, N: OUT }, { transB: true }, b ?? undefined);

/** dx = dy·w, dw = dy^T·x, db = Σ_rows dy. */
export function linearBackwardRef(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, N: number, IN: number, OUT: number) {
  const { da: dx, db: dw } = matmulBackwardRef(x, w, dy, { B: 1, M: N, K: IN, N: OUT }, { transB: true });
  const db = new Float64Array(OUT);
  for (let r = 0; r < N; r++) for (let o = 0; o < OUT; o++) db[o] += dy[r * OUT + o];
  return { dx, dw, db };
}
