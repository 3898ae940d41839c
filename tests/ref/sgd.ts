// float64 references for kernels/sgd.ts: MindSpore Momentum after loss-scale unscaling, and the
// dynamic loss-scale state machine.
export interface Hyper { lr: number; momentum: number; weightDecay: number; invScale: number }

/** One step in place: g = grad·invScale + wd·w (wd only if decay), v = momentum·v + g, w -= lr·v. */
export function sgdRef(w: Float64Array, v: Float64Array, grad: ArrayLike<number>, h: Hyper, decay: boolean): void {
  for (let i = 0; i < w.length; i++) {
    const g = grad[i] * h.invScale + (decay ? h.weightDecay * w[i] : 0);
    v[i] = h.momentum * v[i] + g;
    w[i] -= h.lr * v[i];
  }
}

/** True if any gradient element, or it times invScale, is not finite. */
export const overflowRef = (grads: ArrayLike<number>[], invScale: number) =>
  grads.some((g) => Array.from(g).some((x) => !Number.isFinite(x) || !Number.isFinite(Math.fround(x * invScale))));

export interface LossScaleState { scale: number; good: number }

/** Overflow: scale /= factor (>= min), good = 0; else good++, and at `interval` scale *= factor (<= max), good = 0. */
export function lossScaleRef(s: LossScaleState, overflow: boolean, c: { interval: number; factor: number; minScale: number; maxScale: number }): LossScaleState {
  if (overflow) return { scale: Math.max(s.scale / c.factor, c.minScale), good: 0 };
  const good = s.good + 1;
  return good >= c.interval ? { scale: Math.min(s.scale * c.factor, c.maxScale), good: 0 } : { scale: s.scale, good };
}
