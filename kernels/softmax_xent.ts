// Softmax cross-entropy with label smoothing, logits z [N, K] (f32 or f16), labels [N] (f32 holding
// class indices 0..K-1 as exact floats):
//   q_k    = (1 - s)·[k == label] + s/K        (PyTorch CrossEntropyLoss(label_smoothing=s), which
//                                               MindSpore 2.x nn.CrossEntropyLoss also implements)
//   loss_n = -Σ_k q_k·log softmax(z_n)_k = log Σ_k exp(z_nk - m) - Σ_k q_k·(z_nk - m),  m = max_k z_nk
//   loss   = mean_n loss_n   (f32 [1])
// Everything is taken relative to the row max m, so large logits neither overflow exp nor cancel.
// One invocation per row computes loss_n and, in the same pass, dloss/dz = (softmax - q)/N as f32
// (f32 so that a later loss scale is applied before any rounding to halves); a one-workgroup
// dispatch sums the row losses in a fixed order. Where subgroups are enabled (sg) a subgroup takes a
// row, its invocations striding over the logits and combining with subgroupMax / subgroupAdd, and the
// mean's workgroup sum is workgroup_reduce.ts's. Backward is dlogits·dy, read from the GPU, in the
// logits' dtype. A label that is not an integer in [0, K) gives a NaN loss (and NaN gradient row).
// topkCorrect gives per-row top-1 / top-5 hits for evaluation, ties going to the lower class index; a
// NaN logit is decided by its bits (WGSL leaves NaN comparisons to the implementation): a NaN label
// logit is a miss, a NaN elsewhere is never ahead of the label.
import { Tensor, defineOp, grid1d, gradEnabled, type DType } from '../engine/index.ts';
import { defineKernel, input, output, subgroupsEnabled } from './kernel.ts';
import { SUBGROUP_BUILTINS, workgroupReduce } from './workgroup_reduce.ts';
import { isNan } from './cast.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';

const ROWS_WG = 64;

// the label of row n as a class index, or K when it is not an integer in [0, K) (NaN by its bits); a
// quiet NaN built at run time (a constant NaN is a WGSL shader-creation error)
const LABEL = /* wgsl */ `
fn label(n: u32) -> u32 {
  let l = labels[n];
  if (!${isNan('l', 1)} && l >= 0.0 && l < f32(u.K) && l == floor(l)) { return u32(l); }
  return u.K;
}
fn nan() -> f32 { return bitcast<f32>(0x7fc00000u | (u.K & 0u)); }`;

type RowSpec = { dtype: DType; grad: boolean; sg: boolean };

// loss_n from S = Σ exp(z - m), A = Σ (z - m), zy = z_label - m and the label y
const LOSS = /* wgsl */ `
fn loss(S: f32, A: f32, zy: f32, y: u32) -> f32 {
  let sK = u.s / f32(u.K);       // s/K, the smoothing share of every class
  return select(log(S) - (1.0 - u.s) * zy - sK * A, nan(), y == u.K);
}
// dloss/dz_k given exp(z_k - m) / S
fn grad(p: f32, k: u32, y: u32) -> f32 {
  let sK = u.s / f32(u.K);
  let q = select(sK, sK + 1.0 - u.s, k == y);
  return select((p - q) * u.invN, nan(), y == u.K);
}`;

// A subgroup per row: the workgroup's ROWS_WG rows taken num_subgroups at a time (subgroup sid takes
// row r + sid), the subgroup's active invocations (rank 0..lanes-1, whatever the subgroup size and
// however full it is) striding over the row. No invocation returns early: the subgroup operations stay
// in uniform control flow, and a row past N is computed on row N - 1 and not stored.
const rowsSubgroupBody = (s: RowSpec) => /* wgsl */ `${LABEL}
${LOSS}
@compute @workgroup_size(${ROWS_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${SUBGROUP_BUILTINS}) {
  let rank = subgroupExclusiveAdd(1u);
  let lanes = subgroupAdd(1u);
  let lead = subgroupElect();
  let first = (wid.x + wid.y * nwg.x) * ${ROWS_WG}u;
  for (var r = 0u; r < ${ROWS_WG}u; r += nsg) {
    if (first + r >= u.N) { break; }   // uniform: no row of this step is in range
    let n = first + r + sid;
    let live = n < u.N && r + sid < ${ROWS_WG}u;
    let nn = min(n, u.N - 1u);
    let row = nn * u.K;
    let y = label(nn);
    var m = ld_z(row + min(rank, u.K - 1u));
    for (var k = rank + lanes; k < u.K; k += lanes) { m = max(m, ld_z(row + k)); }
    m = subgroupMax(m);
    var acc = vec3f(0.0);   // (Σ exp(z - m), Σ (z - m), z_label - m) over this invocation's logits
    for (var k = rank; k < u.K; k += lanes) {
      let d = ld_z(row + k) - m;
      acc += vec3f(exp(d), d, select(0.0, d, k == y));
    }
    acc = subgroupAdd(acc);
    if (live && lead) { losses[n] = loss(acc.x, acc.y, acc.z, y); }
    ${s.grad ? `if (live) {
      let r1 = 1.0 / acc.x;
      for (var k = rank; k < u.K; k += lanes) { dz[row + k] = grad(exp(ld_z(row + k) - m) * r1, k, y); }
    }` : ''}
  }
}`;

const rowsKernel = defineKernel({
  name: 'softmax_xent.rows',
  variant: (s: RowSpec) => `${s.dtype}${s.grad ? '/grad' : ''}${s.sg ? '/sg' : ''}`,
  uniforms: { N: 'u32', K: 'u32', s: 'f32', invN: 'f32' },
  buffers: (s) => [input('z', s.dtype), input('labels', 'f32'), output('losses', 'f32'), ...(s.grad ? [output('dz', 'f32')] : [])],
  subgroups: (s) => s.sg,
  body: (s) => s.sg ? rowsSubgroupBody(s) : /* wgsl */ `${LABEL}
${LOSS}
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
  losses[n] = loss(S, A, zy, y);
  ${s.grad ? `let r = 1.0 / S;
  for (var k = 0u; k < u.K; k++) { dz[row + k] = grad(exp(ld_z(row + k) - m) * r, k, y); }` : ''}
}`,
});

// mean of the N row losses: one workgroup, each invocation sums a strided share, one adds the shares
const meanKernel = defineKernel({
  name: 'softmax_xent.mean',
  variant: (s: { sg: boolean }) => (s.sg ? 'f32/sg' : 'f32'),
  uniforms: { N: 'u32', invN: 'f32' },
  buffers: () => [input('losses', 'f32'), output('loss', 'f32')],
  subgroups: (s) => s.sg,
  body: (s) => s.sg ? /* wgsl */ `
${workgroupReduce('wg_sum', 'f32', ROWS_WG, 'add')}
// a single workgroup; invocation t sums rows t, t + ${ROWS_WG}, ...
@compute @workgroup_size(${ROWS_WG})
fn main(@builtin(local_invocation_index) t: u32, ${SUBGROUP_BUILTINS}) {
  var a = 0.0;
  for (var n = t; n < u.N; n += ${ROWS_WG}u) { a += losses[n]; }
  let total = wg_sum(a, t, sid, nsg);
  if (t == 0u) { loss[0] = total * u.invN; }
}` : /* wgsl */ `
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
});

// dx = dlogits·dy[0] in the logits' dtype, one invocation per 16-byte vector of dx (4 f32 or 8 halves)
const scaleKernel = defineKernel({
  name: 'softmax_xent.scale',
  variant: (s: { dtype: DType }) => s.dtype,
  uniforms: { vecs: 'u32' },
  buffers: (s) => [input('dz', 'f32', 4), input('dy', 'f32'), output('dx', s.dtype, s.dtype === 'f32' ? 4 : 8)],
  body: (s) => /* wgsl */ `
// one invocation per 16-byte vector of dx; the tail's extra lanes land in padding
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let v = ${flatIndex()};
  if (v >= u.vecs) { return; }
  ${s.dtype === 'f32' ? 'st_dx(v, dz[v] * dy[0]);' : 'st_dx(v, mat2x4f(dz[2u * v] * dy[0], dz[2u * v + 1u] * dy[0]));'}
}`,
});

const topkKernel = defineKernel({
  name: 'softmax_xent.topk',
  variant: (s: { dtype: DType }) => s.dtype,
  uniforms: { N: 'u32', K: 'u32' },
  buffers: (s) => [input('z', s.dtype), input('labels', 'f32'), output('hits', 'f32', 2)],
  body: () => /* wgsl */ `${LABEL}
// one invocation per row: the label's rank is the number of classes ahead of it; NaN by its bits
@compute @workgroup_size(${ROWS_WG})
fn main(${builtins}) {
  let n = ${flatIndex(ROWS_WG)};
  if (n >= u.N) { return; }
  let y = label(n);
  if (y == u.K) { hits[n] = vec2f(nan()); return; }
  let row = n * u.K;
  let zy = ld_z(row + y);
  if ${isNan('zy', 1)} { hits[n] = vec2f(0.0); return; }   // a NaN label logit is a miss
  var rank = 0u;
  for (var k = 0u; k < u.K; k++) {
    let zk = ld_z(row + k);
    if (!${isNan('zk', 1)} && (zk > zy || (zk == zy && k < y))) { rank++; }
  }
  hits[n] = vec2f(select(0.0, 1.0, rank < 1u), select(0.0, 1.0, rank < 5u));
}`,
});

// ---------------------------------------------------------------------------------------------
// Launchers without autograd (no checks, no tape).

export interface SoftmaxXentOutputs {
  /** mean loss, f32 [1] */
  loss: Tensor;
  /** per-row losses, f32 [N] */
  losses: Tensor;
  /** dloss/dlogits = (softmax - q)/N, f32 [N, K]; null unless asked for */
  dlogits: Tensor | null;
}

/** Loss, per-row losses and (if `withGrad`) the logits gradient of the mean loss, from one dispatch over the rows (+ the mean). */
export function softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, smoothing = 0.1, withGrad = true): SoftmaxXentOutputs {
  const [N, K] = logits.shape;
  const losses = Tensor.empty([N], 'f32');
  const dlogits = withGrad ? Tensor.empty([N, K], 'f32') : null;
  const sg = subgroupsEnabled();
  rowsKernel.run({ dtype: logits.dtype, grad: withGrad, sg }, {
    uniforms: { N, K, s: smoothing, invN: 1 / N },
    buffers: dlogits ? { z: logits, labels, losses, dz: dlogits } : { z: logits, labels, losses }, grid: grid1d(N, ROWS_WG),
  });
  const loss = Tensor.empty([1], 'f32');
  meanKernel.run({ sg }, { uniforms: { N, invN: 1 / N }, buffers: { losses, loss }, grid: [1, 1, 1] });
  return { loss, losses, dlogits };
}

/** dlogits (f32 [N, K]) times the scalar dy (f32 [1], read on the GPU), as a tensor of `dtype`. */
export function softmaxCrossEntropyBackward(dlogits: Tensor, dy: Tensor, dtype: DType): Tensor {
  const dx = Tensor.empty(dlogits.shape, dtype);
  const vecs = Math.ceil(dx.byteLength / 16);
  // f16 reads 32 bytes of dlogits per vector: bind whole 32-byte blocks (pool buffers are 256-byte multiples)
  const dz = { tensor: dlogits, offset: 0, size: Math.ceil(dlogits.byteLength / 32) * 32 };
  scaleKernel.run({ dtype }, { uniforms: { vecs }, buffers: { dz, dy, dx }, grid: grid1d(vecs, WG) });
  return dx;
}

/** Per row of logits [N, K]: (top-1 hit, top-5 hit) as 1/0 in f32 [N, 2]; NaN for an invalid label. */
export function topkCorrect(logits: Tensor, labels: Tensor): Tensor {
  const [N, K] = logits.shape;
  const hits = Tensor.empty([N, 2], 'f32');
  topkKernel.run({ dtype: logits.dtype }, { uniforms: { N, K }, buffers: { z: logits, labels, hits }, grid: grid1d(N, ROWS_WG) });
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
    const r = softmaxCrossEntropyForward(logits, labels, o.smoothing ?? 0.1, gradEnabled() && logits.requiresGrad);
    r.losses.dispose();
    return { y: r.loss, saved: { dlogits: r.dlogits, dtype: logits.dtype } };
  },
  backward: (dy, { dlogits, dtype }) => [softmaxCrossEntropyBackward(dlogits!, dy, dtype), null],
});
