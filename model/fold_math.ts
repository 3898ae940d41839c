// The float64 arithmetic of batch-norm folding on host arrays, shared by the engine's folded model
// (fold_bn.ts, which explains the algebra) and the ONNX export (onnx_export.ts), so both fold alike.
// No GPU here.

export interface BnStats { gamma: ArrayLike<number>; beta: ArrayLike<number>; mean: ArrayLike<number>; var: ArrayLike<number>; eps: number }

/** BN(conv(x)) = conv'(x) + b: w' = w·s per output channel, b = beta - mean·s, s = gamma / sqrt(var + eps). */
export function foldConvBnHost(w: ArrayLike<number>, outC: number, bn: BnStats): { w: Float64Array; b: Float64Array } {
  const per = w.length / outC;
  const fw = new Float64Array(w.length), fb = new Float64Array(outC);
  for (let o = 0; o < outC; o++) {
    const s = bn.gamma[o]! / Math.sqrt(bn.var[o]! + bn.eps);
    for (let i = 0; i < per; i++) fw[o * per + i] = w[o * per + i]! * s;
    fb[o] = bn.beta[o]! - bn.mean[o]! * s;
  }
  return { w: fw, b: fb };
}

/**
 * Move a per-channel constant c (the depthwise conv's folded bias) through the grouped 1x1 conv w
 * [outC, inC/group] that follows: b[o] += Σ_i w[o, i]·c[input channel of (o, i)], in place.
 */
export function pushBiasThroughGroupedConv(w: ArrayLike<number>, b: Float64Array, c: ArrayLike<number>, group: number, inC: number, outC: number): void {
  // output o of group g reads inputs g·(inC/G) + i
  const inPer = inC / group, outPer = outC / group;
  for (let o = 0; o < outC; o++) {
    const base = Math.floor(o / outPer) * inPer;
    for (let i = 0; i < inPer; i++) b[o] += w[o * inPer + i]! * c[base + i]!;
  }
}
