// Global average pool, the head of ShuffleNetV1: x [N, C, H, W] -> y [N, C] in x's dtype,
//   y[n, c] = Σ_hw x[n, c, h, w] / (H·W), accumulated in f32.
// Backward spreads the mean's gradient evenly: dx[n, c, h, w] = dy[n, c] / (H·W).
// Threads own PAIRS of (n, c) outputs, so packed-half stores stay whole words. A pair's 2·H·W inputs
// are contiguous and word-aligned, read as words of two elements (vec2f for f32, one u32 of halves for
// f16): words [0, HW/2) belong to the first channel, the rest to the second, with one straddling word
// when H·W is odd. Small H·W (7x7, 1x1): one invocation per pair. Large H·W (56x56): one workgroup per
// pair, a strided partial sum per invocation, then a tree in workgroup memory, or (sg) subgroup sums
// (workgroup_reduce.ts).
// Images are independent, so a batch over the storage binding limit runs in binding windows of whole
// images (windows.ts) of x and y alike, each dispatch the pool of its images alone.
import { Tensor, defineOp, grid1d, type DType, type Shape } from '../engine/index.ts';
import { defineKernel, input, output, subgroupsEnabled } from './kernel.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';
import { SUBGROUP_BUILTINS, workgroupReduce } from './workgroup_reduce.ts';
import { batchWindows, rowsOf } from './windows.ts';

type Mode = 'workgroup' | 'thread';
/** sg: the workgroup mode's combine by subgroup operations. */
type Spec = { dtype: DType; mode: Mode; sg: boolean };
/** Invocations per workgroup in 'workgroup' mode; llvmpipe runs a workgroup on one core, so keep it small. */
const WG_TREE = 64;
/** H·W from which a pair gets a whole workgroup. */
const TREE_FROM = 256;

// the pair's sum over words [i0, i1) with stride `step`: ch0 words, the straddling word, ch1 words
const pairSum = (i0: string, step: string) => /* wgsl */ `
  let base = p * u.HW;            // word index of the pair's first element
  let half = u.HW / 2u;           // words wholly in the first channel
  let two = 2u * p + 1u < u.NC;   // the last pair of an odd N·C has one channel
  var acc = vec2f(0.0);
  for (var i = ${i0}; i < half; i += ${step}) { let v = ld_x(base + i); acc.x += v.x + v.y; }
  var from1 = half;
  if (u.HW % 2u == 1u) {
    from1 = half + 1u;
    if (${i0} == 0u) { let v = ld_x(base + half); acc += vec2f(v.x, select(0.0, v.y, two)); }
  }
  if (two) { for (var i = from1 + ${i0}; i < u.HW; i += ${step}) { let v = ld_x(base + i); acc.y += v.x + v.y; } }`;

const forwardKernel = defineKernel({
  name: 'global_avg_pool',
  variant: (s: Spec) => `${s.dtype}/${s.mode}${s.sg ? '/sg' : ''}`,
  uniforms: { pairs: 'u32', NC: 'u32', HW: 'u32', k: 'f32' },
  // x read a word of two elements at a time, y stored a pair at a time
  buffers: (s) => [input('x', s.dtype, 2), output('y', s.dtype)],
  subgroups: (s) => s.sg,
  body: (s) => s.mode === 'thread' ? /* wgsl */ `
// one invocation per pair of outputs
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  if (p >= u.pairs) { return; }
  ${pairSum('0u', '1u')}
  st2_y(p, acc * u.k);
}` : s.sg ? /* wgsl */ `
${workgroupReduce('wg_sum', 'vec2f', WG_TREE, 'add')}
// one workgroup per pair of outputs
@compute @workgroup_size(${WG_TREE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32, ${SUBGROUP_BUILTINS}) {
  let p = wid.x + wid.y * nwg.x;
  if (p >= u.pairs) { return; }   // uniform across the workgroup
  ${pairSum('t', `${WG_TREE}u`)}
  let total = wg_sum(acc, t, sid, nsg);
  if (t == 0u) { st2_y(p, total * u.k); }
}` : /* wgsl */ `
var<workgroup> part: array<vec2f, ${WG_TREE}>;
// one workgroup per pair of outputs
@compute @workgroup_size(${WG_TREE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let p = wid.x + wid.y * nwg.x;
  if (p >= u.pairs) { return; }   // uniform across the workgroup
  ${pairSum('t', `${WG_TREE}u`)}
  part[t] = acc;
  workgroupBarrier();
  for (var w = ${WG_TREE / 2}u; w > 0u; w >>= 1u) {
    if (t < w) { part[t] += part[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { st2_y(p, part[0] * u.k); }
}`,
});

/** Elements per 16-byte vector of dx: a vec4f, or 8 halves. */
const vecLen = (dtype: DType) => (dtype === 'f32' ? 4 : 8);

const backwardKernel = defineKernel({
  name: 'global_avg_pool.backward',
  variant: (s: { dtype: DType }) => s.dtype,
  uniforms: { total: 'u32', NC: 'u32', HW: 'u32', k: 'f32' },
  buffers: (s) => [input('dy', s.dtype), output('dx', s.dtype, vecLen(s.dtype))],
  body: (s) => {
    const V = vecLen(s.dtype);
    const store = V === 4 ? 'st_dx(t, vec4f(v[0], v[1], v[2], v[3]));'
      : 'st_dx(t, mat2x4f(vec4f(v[0], v[1], v[2], v[3]), vec4f(v[4], v[5], v[6], v[7])));';
    return /* wgsl */ `
// one invocation per 16-byte vector of dx (${V} elements): dy[nc] / HW, nc stepping along
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  let e0 = t * ${V}u;
  if (e0 >= u.total) { return; }
  var nc = e0 / u.HW;
  var r = e0 - nc * u.HW;
  var v: array<f32, ${V}>;
  for (var j = 0u; j < ${V}u; j++) {
    v[j] = ld_dy(min(nc, u.NC - 1u)) * u.k;   // past the end: padding of the last vector
    r += 1u;
    if (r == u.HW) { r = 0u; nc += 1u; }
  }
  ${store}
}`;
  },
});

/** Raw forward (no autograd): [N, C, H, W] -> [N, C]. */
export function globalAvgPoolForward(x: Tensor): Tensor {
  const [N, C, H, W] = x.shape;
  const HW = H * W;
  const y = Tensor.empty([N, C], x.dtype);
  const mode: Mode = HW >= TREE_FROM ? 'workgroup' : 'thread';
  for (const w of batchWindows('globalAvgPool', N, [x, y])) {
    const NC = w.count * C, pairs = Math.ceil(NC / 2);
    forwardKernel.run({ dtype: x.dtype, mode, sg: mode === 'workgroup' && subgroupsEnabled() }, {
      uniforms: { pairs, NC, HW, k: 1 / HW }, buffers: { x: rowsOf(x, N, w), y: rowsOf(y, N, w) },
      grid: mode === 'workgroup' ? grid1d(pairs, 1) : grid1d(pairs, WG),
    });
  }
  return y;
}

/** Raw backward: dx of xShape with every (h, w) of channel (n, c) set to dy[n, c] / (H·W). */
export function globalAvgPoolBackward(dy: Tensor, xShape: Shape): Tensor {
  const [N, C, H, W] = xShape;
  const dx = Tensor.empty(xShape, dy.dtype);
  for (const w of batchWindows('globalAvgPool.backward', N, [dy, dx])) {
    const total = w.count * C * H * W;
    backwardKernel.run({ dtype: dy.dtype }, {
      uniforms: { total, NC: w.count * C, HW: H * W, k: 1 / (H * W) }, buffers: { dy: rowsOf(dy, N, w), dx: rowsOf(dx, N, w) },
      grid: grid1d(Math.ceil(total / vecLen(dy.dtype)), WG),
    });
  }
  return dx;
}

/** Mean over H×W: [N, C, H, W] -> [N, C]. */
export const globalAvgPool = defineOp('globalAvgPool', {
  check: (e, x: Tensor) => {
    e.rank('x', x, 4);
    if (x.size === 0) e.fail(`x must not be empty, got [${x.shape.join(', ')}]`);
  },
  forward: (x: Tensor) => ({ y: globalAvgPoolForward(x), saved: { xShape: x.shape } }),
  backward: (dy, { xShape }) => [globalAvgPoolBackward(dy, xShape)],
});
