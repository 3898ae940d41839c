// float64 reference for kernels/conv2d_pointwise.ts: 1x1 group convolution, NCHW, no bias (PyTorch
// Conv2d(Cin, Cout, 1, groups=G, bias=False)). With K = Cin/G, M = Cout/G, P = H·W:
//   y[n, gM + m, p] = Σ_k w[gM + m, k] · x[n, gK + k, p]
//   dx[n, gK + k, p] = Σ_m w[gM + m, k] · dy[n, gM + m, p]      (dgrad: Wᵀ · dY per group)
//   dw[gM + m, k]    = Σ_{n, p} dy[n, gM + m, p] · x[n, gK + k, p]   (wgrad)
// dx and dw are the exact derivatives of Σ dy·y (checked by finite differences in the test).
import type { Shape } from '../../engine/index.ts';

/** Visit every multiply of the convolution as (y index, x index, w index). */
function eachProduct(xShape: Shape, Cout: number, G: number, f: (yi: number, xi: number, wi: number) => void): void {
  const [N, Cin, H, W] = xShape;
  const P = H * W, K = Cin / G, M = Cout / G;
  for (let n = 0; n < N; n++) for (let co = 0; co < Cout; co++) {
    const g = Math.floor(co / M);
    for (let k = 0; k < K; k++) {
      const xo = (n * Cin + g * K + k) * P, yo = (n * Cout + co) * P, wi = co * K + k;
      for (let p = 0; p < P; p++) f(yo + p, xo + p, wi);
    }
  }
}

/** y [N, Cout, H, W] for x [N, Cin, H, W] and w [Cout, Cin/G, 1, 1]. */
export function pointwiseRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, Cout: number, G: number): Float64Array {
  const [N, , H, W] = xShape;
  const y = new Float64Array(N * Cout * H * W);
  eachProduct(xShape, Cout, G, (yi, xi, wi) => { y[yi] += w[wi] * x[xi]; });
  return y;
}

/** dx and dw of L = Σ dy·y. */
export function pointwiseBackwardRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, dy: ArrayLike<number>, Cout: number, G: number) {
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  eachProduct(xShape, Cout, G, (yi, xi, wi) => {
    dx[xi] += w[wi] * dy[yi];
    dw[wi] += x[xi] * dy[yi];
  });
  return { dx, dw };
}
