// Softmax cross-entropy with label smoothing, logits z [N, K] (f32 or f16), labels [N] (f32 holding
// class indices 0..K-1 as exact floats):
//   q_k    = (1 - s)·[k == label] + s/K        (PyTorch CrossEntropyLoss(label_smoothing=s), which
//                                               MindSpore 2.x nn.CrossEntropyLoss also implements)
//   loss_n = -Σ_k q_k·log softmax(z_n)_k = log Σ_k exp(z_nk - m) - Σ_k q_k·(z_nk - m),  m = max_k z_nk
//   loss   = mean_n loss_n   (f32 [1])
// Everything is taken relative to the row max m, so large logits neither overflow exp nor cancel.
// One invocation per row computes loss_n and, in the same pass, dloss/dz = (softmax - q)/N as f32
// (f32 so that a later loss scale is applied before any rounding to halves); a one-workgroup
// dispatch sums the row losses in a fixed order. Backward is dlogits·dy, read from the GPU, in the
// logits' dtype. A label that is not an integer in [0, K) gives a NaN loss (and NaN gradient row).
// topkCorrect gives per-row top-1 / top-5 hits for evaluation, ties going to the lower class index.
import { Tensor, defineOp, launch, grid1d, uniforms, gradEnabled, type DType } from '../engine/index.ts';
import { WG, array, builtins, flatIndex } from './wgsl.ts';

const RU = uniforms({ N: 'u32', K: 'u32', s: 'f32', invN: 'f32' });
const ROWS_WG = 64;

// the label of row n as a class index, or K when it is not an integer in [0, K); a quiet NaN built
// at run time (a constant NaN is a WGSL shader-creation error)
const LABEL = /* wgsl */ `
fn label(n: u32) -> u32 {
  let l = labels[n];
  if (l >= 0.0 && l < f32(u.K) && l == floor(l)) { return u32(l); }
  return u.K;
}
fn nan() -> f32 { return bitcast<f32>(0x7fc00000u | (u.K & 0u)); }`;

type RowSpec = { dtype: DType; grad: boolean };

const rowsKernel = {
  key: (s: RowSpec) => `softmax_xent.rows/${s.dtype}${s.grad ? '/grad' : ''}`,
  wgsl: (s: RowSpec) => /* wgsl */ `
${RU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${array(1, 'z', s.dtype, 'read')}
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
${s.grad ? '@group(0) @binding(4) var<storage, read_write> dz: array<f32>;' : ''}
${LABEL}
// one invocation per row
@compute @workgroup_size(${ROWS_WG})
fn main(${builtins}) {
  let n = ${flatIndex(ROWS_WG)};
  if (n >= u.N) { return; }
  let row = n * u.K;
  let y = label(n);
  var m = ld_z(row);
  for (var k = 1u; k < u.K; k++) { m = max(m, ld_z(row + k)); }
  var S = 0.0;        // Σ exp(z - m)
  var A = 0.0;        // Σ (z - m)
  var zy = 0.0;       // z_label - m
  for (var k = 0u; k < u.K; k++) {
    let d = ld_z(row + k) - m;
    S += exp(d);
    A += d;
    if (k == y) { zy = d; }
  }
  let sK = u.s / f32(u.K);       // s/K, the smoothing share of every class
  let bad = y == u.K;
  losses[n] = select(log(S) - (1.0 - u.s) * zy - sK * A, nan(), bad);
  ${s.grad ? `let r = 1.0 / S;
  for (var k = 0u; k < u.K; k++) {
    let q = select(sK, sK + 1.0 - u.s, k == y);
    dz[row + k] = select((exp(ld_z(row + k) - m) * r - q) * u.invN, nan(), bad);
  }` : ''}
}`,
};

// mean of the N row losses: one workgroup, each invocation sums a strided share, one adds the shares
const meanKernel = {
  key: () => 'softmax_xent.mean',
  wgsl: () => /* wgsl */ `
${RU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
var<workgroup> part: array<f32, ${ROWS_WG}>;
// a single workgroup; invocation t sums rows t, t + ${ROWS_WG}, ...
@compute @workgroup_size(${ROWS_WG})
fn main(@builtin(local_invocation_index) t: u32) {
  var a = 0.0;
  for (var n = t; n < u.N; n += ${ROWS_WG}u) { a += losses[n]; }
  part[t] = a;
  workgroupBarrier();
  if (t == 0u) {
    var total = 0.0;
    for (var k = 0u; k < ${ROWS_WG}u; k++) { total += part[k]; }
    loss[0] = total * u.invN;
  }
}`,
};

// dx = dlogits·dy[0] in the logits' dtype, one invocation per 16-byte vector of dx (4 f32 or 8 halves)
const SU = uniforms({ vecs: 'u32' });
const scaleKernel = {
  key: (s: { dtype: DType }) => `softmax_xent.scale/${s.dtype}`,
  wgsl: (s: { dtype: DType }) => /* wgsl */ `
${SU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> dz: array<vec4f>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<${s.dtype === 'f32' ? 'vec4f' : 'vec4u'}>;
// one invocation per 16-byte vector of dx; the tail's extra lanes land in padding
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let v = ${flatIndex()};
  if (v >= u.vecs) { return; }
  ${s.dtype === 'f32' ? 'dx[v] = dz[v] * dy[0];' : `let lo = dz[2u * v] * dy[0];
  let hi = dz[2u * v + 1u] * dy[0];
  dx[v] = vec4u(pack2x16float(lo.xy), pack2x16float(lo.zw), pack2x16float(hi.xy), pack2x16float(hi.zw));`}
}`,
};

const topkKernel = {
  key: (s: { dtype: DType }) => `softmax_xent.topk/${s.dtype}`,
  wgsl: (s: { dtype: DType }) => /* wgsl */ `
${RU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${array(1, 'z', s.dtype, 'read')}
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> hits: array<vec2f>;
${LABEL}
// one invocation per row: the label's rank is the number of classes ahead of it
@compute @workgroup_size(${ROWS_WG})
fn main(${builtins}) {
  let n = ${flatIndex(ROWS_WG)};
  if (n >= u.N) { return; }
  let y = label(n);
  if (y == u.K) { hits[n] = vec2f(nan()); return; }
  let row = n * u.K;
  let zy = ld_z(row + y);
  var rank = select(0u, u.K, zy != zy);   // a NaN label logit counts as a miss
  for (var k = 0u; k < u.K; k++) {
    let zk = ld_z(row + k);
    if (zk > zy || (zk == zy && k < y)) { rank++; }
  }
  hits[n] = vec2f(select(0.0, 1.0, rank < 1u), select(0.0, 1.0, rank < 5u));
}`,
};

// ---------------------------------------------------------------------------------------------
// Launchers (raw: no checks, no tape).

export interface SoftmaxXentRaw {
  /** mean loss, f32 [1] */
  loss: Tensor;
  /** per-row losses, f32 [N] */
  losses: Tensor;
  /** dloss/dlogits = (softmax - q)/N, f32 [N, K]; null unless asked for */
  dlogits: Tensor | null;
}

/** Loss, per-row losses and (if `withGrad`) the logits gradient of the mean loss, from one dispatch over the rows (+ the mean). */
export function softmaxCrossEntropyRaw(logits: Tensor, labels: Tensor, smoothing = 0.1, withGrad = true): SoftmaxXentRaw {
  const [N, K] = logits.shape;
  const u = RU.pack({ N, K, s: smoothing, invN: 1 / N });
  const losses = Tensor.empty([N], 'f32');
  const dlogits = withGrad ? Tensor.empty([N, K], 'f32') : null;
  launch(rowsKernel, { dtype: logits.dtype, grad: withGrad }, {
    uniforms: u, read: [logits, labels], write: dlogits ? [losses, dlogits] : [losses], grid: grid1d(N, ROWS_WG),
  });
  const loss = Tensor.empty([1], 'f32');
  launch(meanKernel, null, { uniforms: u, read: [losses], write: [loss], grid: [1, 1, 1] });
  return { loss, losses, dlogits };
}

/** dlogits (f32 [N, K]) times the scalar dy (f32 [1], read on the GPU), as a tensor of `dtype`. */
export function softmaxCrossEntropyBackward(dlogits: Tensor, dy: Tensor, dtype: DType): Tensor {
  const dx = Tensor.empty(dlogits.shape, dtype);
  const vecs = Math.ceil(dx.byteLength / 16);
  // f16 reads 32 bytes of dlogits per vector: bind whole 32-byte blocks (pool buffers are 256-byte multiples)
  const dz = { tensor: dlogits, offset: 0, size: Math.ceil(dlogits.byteLength / 32) * 32 };
  launch(scaleKernel, { dtype }, { uniforms: SU.pack({ vecs }), read: [dz, dy], write: [dx], grid: grid1d(vecs, WG) });
  return dx;
}

/** Per row of logits [N, K]: (top-1 hit, top-5 hit) as 1/0 in f32 [N, 2]; NaN for an invalid label. */
export function topkCorrect(logits: Tensor, labels: Tensor): Tensor {
  const [N, K] = logits.shape;
  const hits = Tensor.empty([N, 2], 'f32');
  launch(topkKernel, { dtype: logits.dtype }, {
    uniforms: RU.pack({ N, K, s: 0, invN: 0 }), read: [logits, labels], write: [hits], grid: grid1d(N, ROWS_WG),
  });
  return hits;
}

// ---------------------------------------------------------------------------------------------
// The op.

export interface SoftmaxXentOptions { smoothing?: number }

/**
 * Mean label-smoothed cross-entropy of logits [N, K] against labels [N] (class indices as f32),
 * f32 [1]. The logits gradient is computed in the forward pass; labels get no gradient.
 */
export const softmaxCrossEntropy = defineOp('softmaxCrossEntropy', {
  check: (e, logits: Tensor, labels: Tensor, o: SoftmaxXentOptions = {}) => {
    e.rank('logits', logits, 2);
    e.dtype('logits', logits, 'f32', 'f16');
    e.shape('labels', labels, [logits.shape[0]], ['logits', logits]);
    e.dtype('labels', labels, 'f32');
    if (labels.requiresGrad) e.fail('labels must not require grad');
    const s = o?.smoothing ?? 0.1;
    if (!(s >= 0 && s <= 1)) e.fail(`smoothing must be in [0, 1], got ${s}`);
    if (logits.shape[0] < 1 || logits.shape[1] < 1) e.fail(`logits must have N >= 1 rows and K >= 1 classes, got [${logits.shape.join(', ')}]`);
  },
  forward: (logits: Tensor, labels: Tensor, o: SoftmaxXentOptions = {}) => {
    const r = softmaxCrossEntropyRaw(logits, labels, o.smoothing ?? 0.1, gradEnabled() && logits.requiresGrad);
    r.losses.dispose();
    return { y: r.loss, saved: { dlogits: r.dlogits, dtype: logits.dtype } };
  },
  backward: (dy, { dlogits, dtype }) => [softmaxCrossEntropyBackward(dlogits!, dy, dtype), null],
});
