// float64 reference for batch norm (PyTorch BatchNorm2d semantics, optional residual add then fused
// ReLU: relu(bn(x) + residual)), x [N, C, H, W].
// Forward: two-pass mean / biased variance per channel; running stats updated with the unbiased
// variance. Backward: the closed forms, which the tests check against finite differences.
export interface BatchNormRefOptions { training: boolean; momentum?: number; eps?: number; relu?: boolean; residual?: ArrayLike<number> }
type Shape4 = readonly [number, number, number, number] | readonly number[];

export interface BatchNormRefOut {
  y: Float64Array;
  /** Per channel: the mean and biased variance used to normalise (batch or running). */
  mean: Float64Array;
  var: Float64Array;
  /** Running statistics after the call (updated copies in training mode). */
  runningMean: Float64Array;
  runningVar: Float64Array;
}

const each = (shape: Shape4, c: number, fn: (i: number) => void) => {
  const [N, C, H, W] = shape;
  const HW = H * W;
  for (let n = 0; n < N; n++) for (let s = 0; s < HW; s++) fn((n * C + c) * HW + s);
};

export function batchNormRef(x: ArrayLike<number>, shape: Shape4, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  runningMean: ArrayLike<number>, runningVar: ArrayLike<number>, o: BatchNormRefOptions): BatchNormRefOut {
  const [N, C, H, W] = shape;
  const count = N * H * W, momentum = o.momentum ?? 0.1, eps = o.eps ?? 1e-5;
  const mean = new Float64Array(C), vr = new Float64Array(C);
  const rm = Float64Array.from(runningMean), rv = Float64Array.from(runningVar);
  for (let c = 0; c < C; c++) {
    if (o.training) {
      let s = 0;
      each(shape, c, (i) => { s += x[i]; });
      const m = s / count;
      let q = 0;
      each(shape, c, (i) => { q += (x[i] - m) ** 2; });
      mean[c] = m;
      vr[c] = q / count;
      rm[c] = (1 - momentum) * rm[c] + momentum * m;
      rv[c] = (1 - momentum) * rv[c] + momentum * (q / (count - 1));
    } else {
      mean[c] = rm[c];
      vr[c] = rv[c];
    }
  }
  const y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    const invstd = 1 / Math.sqrt(vr[c] + eps);
    each(shape, c, (i) => {
      const v = gamma[c] * (x[i] - mean[c]) * invstd + beta[c] + (o.residual ? o.residual[i]! : 0);
      y[i] = o.relu ? Math.max(v, 0) : v;
    });
  }
  return { y, mean, var: vr, runningMean: rm, runningVar: rv };
}

/** dx, dgamma, dbeta (and dresidual) of L with dL/dy = dy, at the same inputs and options as batchNormRef. */
export function batchNormBackwardRef(x: ArrayLike<number>, shape: Shape4, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  runningMean: ArrayLike<number>, runningVar: ArrayLike<number>, dy: ArrayLike<number>, o: BatchNormRefOptions) {
  const [N, C, H, W] = shape;
  const count = N * H * W, eps = o.eps ?? 1e-5;
  const f = batchNormRef(x, shape, gamma, beta, runningMean, runningVar, o);
  const dx = new Float64Array(x.length), dgamma = new Float64Array(C), dbeta = new Float64Array(C), dresidual = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    const invstd = 1 / Math.sqrt(f.var[c] + eps);
    const g = (i: number) => (o.relu && !(f.y[i] > 0) ? 0 : dy[i]);
    const xhat = (i: number) => (x[i] - f.mean[c]) * invstd;
    let s1 = 0, s2 = 0;
    each(shape, c, (i) => { s1 += g(i); s2 += g(i) * xhat(i); });
    dgamma[c] = s2;
    dbeta[c] = s1;
    const a = gamma[c] * invstd;
    each(shape, c, (i) => {
      dresidual[i] = g(i);
      dx[i] = o.training ? (a / count) * (count * g(i) - s1 - xhat(i) * s2) : a * g(i);
    });
  }
  return { dx, dgamma, dbeta, ...(o.residual ? { dresidual } : {}) };
}
