// float64 reference for label-smoothed softmax cross-entropy (PyTorch CrossEntropyLoss(label_smoothing))
// and top-k hits. Straight from the definition: log-softmax by log-sum-exp, q = (1-s)·onehot + s/K.
export function softmaxXentRef(z: ArrayLike<number>, N: number, K: number, labels: ArrayLike<number>, smoothing: number) {
  const losses = new Float64Array(N), dlogits = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, z[n * K + k]);
    let S = 0;
    for (let k = 0; k < K; k++) S += Math.exp(z[n * K + k] - m);
    const logZ = m + Math.log(S);
    for (let k = 0; k < K; k++) {
      const q = (k === labels[n] ? 1 - smoothing : 0) + smoothing / K;
      losses[n] -= q * (z[n * K + k] - logZ);
      dlogits[n * K + k] = (Math.exp(z[n * K + k] - logZ) - q) / N;
    }
  }
  return { loss: losses.reduce((a, b) => a + b, 0) / N, losses, dlogits };
}

/** Per row: [top-1 hit, top-5 hit]; classes tied with the label count ahead of it when their index is lower. */
export function topkCorrectRef(z: ArrayLike<number>, N: number, K: number, labels: ArrayLike<number>): Float64Array {
  const out = new Float64Array(2 * N);
  for (let n = 0; n < N; n++) {
    const y = labels[n], zy = z[n * K + y];
    let rank = 0;
    for (let k = 0; k < K; k++) if (z[n * K + k] > zy || (z[n * K + k] === zy && k < y)) rank++;
    out[2 * n] = rank < 1 ? 1 : 0;
    out[2 * n + 1] = rank < 5 ? 1 : 0;
  }
  return out;
}
