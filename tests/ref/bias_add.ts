// float64 reference for kernels/bias_add.ts: per-channel bias (+ ReLU) over NCHW, and its gradients.

/** y = x + b[c] (relu: max(·, 0)) for x [N, C, H, W]. */
export function biasAddRef(x: ArrayLike<number>, b: ArrayLike<number>, [, C, H, W]: readonly number[], relu: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) { const v = x[i] + b[Math.floor(i / (H * W)) % C]; y[i] = relu ? Math.max(v, 0) : v; }
  return y;
}

/** dx = dy (relu: where y > 0), db[c] = Σ_{n,h,w} dx. */
export function biasAddBackwardRef(x: ArrayLike<number>, b: ArrayLike<number>, dy: ArrayLike<number>, shape: readonly number[], relu: boolean) {
  const [, C, H, W] = shape;
  const y = biasAddRef(x, b, shape, relu);
  const dx = new Float64Array(x.length), db = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    dx[i] = relu && !(y[i] > 0) ? 0 : dy[i];
    db[Math.floor(i / (H * W)) % C] += dx[i];
  }
  return { dx, db };
}
