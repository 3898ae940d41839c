// float64 reference for kernels/channel_shuffle.ts, written literally as the seed's
// reshape (N, C/G, G, H, W) -> transpose (0, 2, 1, 3, 4) -> reshape (N, C, H, W), so the index
// formula the kernel uses (y channel j*(C/G) + i = x channel i*G + j) is checked, not assumed.
import type { Shape } from '../../engine/index.ts';

/** Row-major flat index of `idx` in `shape`. */
const flat = (idx: readonly number[], shape: readonly number[]) => idx.reduce((acc, v, d) => acc * shape[d] + v, 0);

/** y = transpose(reshape(x, [N, C/G, G, H, W]), [0, 2, 1, 3, 4]) viewed as [N, C, H, W]. */
export function channelShuffleRef(x: ArrayLike<number>, shape: Shape, G: number): Float64Array {
  const [N, C, H, W] = shape;
  const cpg = C / G;
  const view = [N, cpg, G, H, W];          // x as 5-D
  const tview = [N, G, cpg, H, W];         // the transposed array, which y is a flat view of
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) for (let i = 0; i < cpg; i++) for (let j = 0; j < G; j++) {
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      y[flat([n, j, i, h, w], tview)] = x[flat([n, i, j, h, w], view)];
    }
  }
  return y;
}

/** The adjoint of channelShuffleRef (dx[k] = Σ over outputs that copied k of dy): a scatter, written as such. */
export function channelShuffleBackwardRef(dy: ArrayLike<number>, shape: Shape, G: number): Float64Array {
  const [N, C, H, W] = shape;
  const cpg = C / G;
  const dx = new Float64Array(dy.length);
  for (let n = 0; n < N; n++) for (let i = 0; i < cpg; i++) for (let j = 0; j < G; j++) {
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      dx[flat([n, i, j, h, w], [N, cpg, G, H, W])] += dy[flat([n, j, i, h, w], [N, G, cpg, H, W])];
    }
  }
  return dx;
}

/** The channel of x that y's channel c copies (the formula the kernels use). */
export const shuffleSource = (c: number, C: number, G: number): number => (c % (C / G)) * G + Math.floor(c / (C / G));
