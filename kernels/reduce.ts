// Sums over one axis, the one reduction module. x is viewed as [outer, R, inner] and reduced over R
// into f32 [outer, inner], times k (1 for a sum, 1/R for a mean); the result is f32 whatever x's dtype
// (accumulation is f32 either way, and a sum of halves overflows easily). One kernel, two modes:
//   thread     one invocation per output, a sequential sum: many outputs or a short R
//   workgroup  one workgroup per output, a strided partial sum per invocation, then a tree in
//              workgroup memory, or (sg) subgroup sums (workgroup_reduce.ts): a long R (>= 64) over
//              few outputs (the sum and mean ops)
// Users: the sum and mean ops; sumColumns (linear's db, pointwise conv wgrad's second pass) and
// sumRows (the depthwise and direct conv wgrads' second pass), which add partial sums into one
// value per weight: many outputs, so they run in thread mode.
// Backward of sum / mean spreads dy (times k) back over R: dx[o, r, i] = k * dy[o, i], in x's dtype.
// Binding windows (windows.ts), where x (or dx) is over the storage binding limit: over the outer rows,
// whole [R, inner] slices, so every window's outputs are the whole run's; or, where nothing precedes
// the summed axis (outer = 1: sum over axis 0 or everything, sumColumns), over rows of R, each window
// summing its rows into its own f32 partial, the partials then added (sumOf). A view whose one
// [R, inner] slice is itself over the limit cannot be windowed, and says so.
import { OpError, Tensor, bindingLimit, defineOp, grid1d, fmt, numel, type Binding, type DType, type Expect, type Shape } from '../engine/index.ts';
import { defineKernel, input, output, subgroupsEnabled, type UniformFields } from './kernel.ts';
import { SUBGROUP_BUILTINS, workgroupReduce } from './workgroup_reduce.ts';
import { WG, builtins, flatIndex, pairMain } from './wgsl.ts';
import { batchWindows, rowsOf } from './windows.ts';
import { sumOf } from './elementwise.ts';

type Mode = 'workgroup' | 'thread';
/** The [outer, R, inner] view and the factor k, shared by the sum and its backward. */
const VIEW: UniformFields = { outer: 'u32', R: 'u32', inner: 'u32', k: 'f32' };

const sumKernel = defineKernel({
  name: 'reduce.sum',
  variant: (s: { dtype: DType; mode: Mode; sg: boolean }) => `${s.dtype}/${s.mode}${s.sg ? '/sg' : ''}`,
  uniforms: VIEW,
  buffers: (s) => [input('x', s.dtype), output('y', 'f32')],
  subgroups: (s) => s.sg,
  body: (s) => (s.mode === 'workgroup' && s.sg ? /* wgsl */ `
${workgroupReduce('wg_sum', 'f32', WG, 'add')}
// one workgroup per output (o, i)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32, ${SUBGROUP_BUILTINS}) {
  let out = wid.x + wid.y * nwg.x;
  if (out >= u.outer * u.inner) { return; }
  let base = (out / u.inner) * u.R * u.inner + out % u.inner;
  var acc = 0.0;
  for (var r = t; r < u.R; r += ${WG}u) { acc += ld_x(base + r * u.inner); }
  let total = wg_sum(acc, t, sid, nsg);
  if (t == 0u) { y[out] = total * u.k; }
}` : s.mode === 'workgroup' ? /* wgsl */ `
var<workgroup> part: array<f32, ${WG}>;
// one workgroup per output (o, i)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let out = wid.x + wid.y * nwg.x;
  if (out >= u.outer * u.inner) { return; }
  let base = (out / u.inner) * u.R * u.inner + out % u.inner;
  var acc = 0.0;
  for (var r = t; r < u.R; r += ${WG}u) { acc += ld_x(base + r * u.inner); }
  part[t] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (t < w) { part[t] += part[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { y[out] = part[0] * u.k; }
}` : /* wgsl */ `
// one invocation per output (o, i)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let out = ${flatIndex()};
  if (out >= u.outer * u.inner) { return; }
  let base = (out / u.inner) * u.R * u.inner + out % u.inner;
  var acc = 0.0;
  for (var r = 0u; r < u.R; r++) { acc += ld_x(base + r * u.inner); }
  y[out] = acc * u.k;
}`),
});

const spreadKernel = defineKernel({
  name: 'reduce.spread',
  variant: (s: { dtype: DType }) => s.dtype,
  uniforms: VIEW,
  buffers: (s) => [input('dy', 'f32'), output('dx', s.dtype)],
  body: () => /* wgsl */ `
fn at(e: u32) -> f32 { return dy[(e / (u.R * u.inner)) * u.inner + e % u.inner] * u.k; }
${pairMain('dx', 'at', 'u.outer * u.R * u.inner')}`,
});

interface View { outer: number; R: number; inner: number }

/** A tensor, or one about to be made, as far as binding sizes go. */
type Sized = { dtype: DType; shape: Shape; byteLength: number };
const sized = (shape: Shape, dtype: DType): Sized => ({ dtype, shape, byteLength: numel(shape) * (dtype === 'f32' ? 4 : 2) });

/**
 * Throws, saying why, where `big` (x or dx, [outer, R, inner]) cannot be windowed: windows split only
 * the outer rows, so one [R, inner] slice must fit by itself; and where outer = 1 they split R, binding
 * `whole` (the sum's f32 [inner], or the spread's dy) whole, so it must fit.
 */
function checkWindowable(op: string, big: Sized, d: View, whole: Sized): void {
  const limit = bindingLimit();
  if (d.outer > 1 && big.byteLength / d.outer > limit) {
    throw new OpError(op, `${big.dtype}${fmt(big.shape)} (${big.byteLength} bytes) is over the ${limit}-byte storage binding limit and cannot be windowed: ` +
      `windows split only the ${d.outer} slices before the summed axis, and one slice [${d.R}, ${d.inner}] (${big.byteLength / d.outer} bytes) ` +
      'is over the limit by itself: sum over the leading axis, or use a smaller tensor');
  }
  if (d.outer === 1 && whole.byteLength > limit) {
    throw new OpError(op, `${big.dtype}${fmt(big.shape)} cannot be windowed: windows split the summed (leading) axis, but ${whole.dtype}${fmt(whole.shape)} ` +
      `(${whole.byteLength} bytes), bound whole, is over the ${limit}-byte storage binding limit by itself: use a smaller tensor`);
  }
}

/** y [shape] (f32) = k · Σ_r x[o, r, i] over the view d; windowed as the header says. */
function sumForward(op: string, x: Tensor, d: View, k: number, shape: Shape, mode: Mode): Tensor {
  const spec = { dtype: x.dtype, mode, sg: mode === 'workgroup' && subgroupsEnabled() };
  const dispatch = (X: Binding, Y: Binding, v: View) => sumKernel.run(spec, {
    uniforms: { ...v, k }, buffers: { x: X, y: Y }, grid: grid1d(v.outer * v.inner, mode === 'workgroup' ? 1 : WG),
  });
  checkWindowable(op, x, d, sized(shape, 'f32'));
  const y = Tensor.empty(shape, 'f32');
  if (d.outer > 1) {
    for (const w of batchWindows(op, d.outer, [x, y])) dispatch(rowsOf(x, d.outer, w), rowsOf(y, d.outer, w), { ...d, outer: w.count });
    return y;
  }
  const windows = batchWindows(op, d.R, [x]);
  if (windows.length === 1) { dispatch(x, y, d); return y; }
  // the summed axis leads: one partial per window (each times k), then one combine
  y.dispose();
  const parts = windows.map((w) => {
    const part = Tensor.empty(shape, 'f32');
    dispatch(rowsOf(x, d.R, w), part, { ...d, R: w.count });
    return part;
  });
  const total = sumOf(parts);
  parts.forEach((p) => p.dispose());
  return total;
}

/** dx [shape] (dtype) = k · dy spread over R; windowed as the header says (dy whole where outer = 1). */
function sumBackward(op: string, dy: Tensor, d: View, k: number, shape: Shape, dtype: DType): Tensor {
  const dispatch = (DY: Binding, DX: Binding, v: View) => spreadKernel.run({ dtype }, {
    uniforms: { ...v, k }, buffers: { dy: DY, dx: DX }, grid: grid1d(Math.ceil((v.outer * v.R * v.inner) / 2), WG),
  });
  checkWindowable(op, sized(shape, dtype), d, dy);
  const dx = Tensor.empty(shape, dtype);
  if (d.outer > 1) {
    for (const w of batchWindows(op, d.outer, [dy, dx])) dispatch(rowsOf(dy, d.outer, w), rowsOf(dx, d.outer, w), { ...d, outer: w.count });
  } else {
    for (const w of batchWindows(op, d.R, [dx])) dispatch(dy, rowsOf(dx, d.R, w), { ...d, R: w.count });
  }
  return dx;
}

/** The sums of x [..., N] along 'columns' (over every leading dimension) or 'rows' (over the last). */
function sumAlong(x: Tensor, along: 'columns' | 'rows', shape: Shape): Tensor {
  const N = x.shape[x.shape.length - 1], rows = x.size / N, outs = along === 'columns' ? N : rows;
  if (numel(shape) !== outs) throw new OpError('sum', `result shape ${fmt(shape)} does not hold the ${outs} ${along === 'columns' ? 'column' : 'row'} sums of ${fmt(x.shape)}`);
  const view = along === 'columns' ? { outer: 1, R: rows, inner: N } : { outer: rows, R: N, inner: 1 };
  return sumForward(along === 'columns' ? 'sumColumns' : 'sumRows', x, view, 1, shape, 'thread');
}

/**
 * f32 column sums of x [..., N] over every leading dimension, no autograd: linear's db, and pointwise
 * conv wgrad's second pass (partial sums [chunks, weights] -> dw). `shape` (N elements) shapes the result.
 */
export const sumColumns = (x: Tensor, shape: Shape = [x.shape[x.shape.length - 1]]): Tensor => sumAlong(x, 'columns', shape);

/**
 * f32 sums of each row of x [..., L] over its last dimension, no autograd: the second pass of the
 * depthwise and direct conv wgrads (partial sums [weights, parts] -> dw). `shape` shapes the result.
 */
export const sumRows = (x: Tensor, shape: Shape = x.shape.slice(0, -1)): Tensor => sumAlong(x, 'rows', shape);

function view(shape: Shape, axis: number | undefined): View {
  if (axis === undefined) return { outer: 1, R: numel(shape), inner: 1 };
  return { outer: numel(shape.slice(0, axis)), R: shape[axis], inner: numel(shape.slice(axis + 1)) };
}

const checkAxis = (e: Expect, x: Tensor, axis?: number) => {
  if (axis !== undefined && !(Number.isInteger(axis) && axis >= 0 && axis < x.shape.length)) e.fail(`axis ${axis} out of range for x of rank ${x.shape.length}`);
};

const outShape = (x: Tensor, axis?: number) => (axis === undefined ? [1] : x.shape.filter((_, i) => i !== axis));

function reduceOp(name: string, mean: boolean) {
  return defineOp(name, {
    check: checkAxis,
    forward: (x: Tensor, axis?: number) => {
      const d = view(x.shape, axis);
      const k = mean ? 1 / d.R : 1;
      const y = sumForward(name, x, d, k, outShape(x, axis), d.R >= 64 ? 'workgroup' : 'thread');
      return { y, saved: { d, k, shape: x.shape, dtype: x.dtype } };
    },
    backward: (dy, { d, k, shape, dtype }) => [sumBackward(`${name}.backward`, dy, d, k, shape, dtype)],
  });
}

/** Sum over `axis` (removed from the shape), or over everything into shape [1]. Output is f32. */
export const sum = reduceOp('sum', false);
/** Mean over `axis`, or over everything into shape [1]. Output is f32. */
export const mean = reduceOp('mean', true);
