// Sum and mean over one axis or over everything. x is viewed as [outer, R, inner] and reduced over R;
// the result is f32 whatever x's dtype (accumulation is f32 either way, and a sum of halves
// overflows easily). Large R: one workgroup per output, a strided partial sum per invocation, then a
// tree in workgroup memory. Small R: one invocation per output.
// Backward spreads dy (times 1 or 1/R) back over R: dx[o, r, i] = k * dy[o, i], in x's dtype.
import { Tensor, defineOp, launch, grid1d, uniforms, type DType, type Expect } from '../engine/index.ts';
import { WG, array, builtins, flatIndex, storePair } from './wgsl.ts';

type Spec = { dtype: DType; mode: 'workgroup' | 'thread' };
const U = uniforms({ outer: 'u32', R: 'u32', inner: 'u32', k: 'f32' });

const sumKernel = {
  key: (s: Spec) => `reduce.sum/${s.dtype}/${s.mode}`,
  wgsl: (s: Spec) => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${array(1, 'x', s.dtype, 'read')}
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${s.mode === 'workgroup' ? `
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
}` : `
// one invocation per output (o, i)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let out = ${flatIndex()};
  if (out >= u.outer * u.inner) { return; }
  let base = (out / u.inner) * u.R * u.inner + out % u.inner;
  var acc = 0.0;
  for (var r = 0u; r < u.R; r++) { acc += ld_x(base + r * u.inner); }
  y[out] = acc * u.k;
}`}`,
};

const expandKernel = {
  key: (s: { dtype: DType }) => `reduce.expand/${s.dtype}`,
  wgsl: (s: { dtype: DType }) => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
${array(2, 'dx', s.dtype, 'read_write')}
fn at(e: u32) -> f32 { return dy[(e / (u.R * u.inner)) * u.inner + e % u.inner] * u.k; }
// one invocation per pair of dx elements (packed halves are stored a pair at a time)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  let n = u.outer * u.R * u.inner;
  if (2u * p >= n) { return; }
  ${storePair('dx', 'at', 'n')}
}`,
};

interface Dims { outer: number; R: number; inner: number }

function dims(shape: readonly number[], axis: number | undefined): Dims {
  if (axis === undefined) return { outer: 1, R: shape.reduce((a, b) => a * b, 1), inner: 1 };
  const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  return { outer: prod(shape.slice(0, axis)), R: shape[axis], inner: prod(shape.slice(axis + 1)) };
}

function reduceRaw(x: Tensor, d: Dims, k: number, outShape: number[]): Tensor {
  const y = Tensor.empty(outShape, 'f32');
  const outs = d.outer * d.inner;
  const mode = d.R >= 64 ? 'workgroup' : 'thread';
  const grid = mode === 'workgroup' ? grid1d(outs, 1) : grid1d(outs, WG);
  launch(sumKernel, { dtype: x.dtype, mode }, { uniforms: U.pack({ ...d, k }), read: [x], write: [y], grid });
  return y;
}

function expandRaw(dy: Tensor, d: Dims, k: number, shape: readonly number[], dtype: DType): Tensor {
  const dx = Tensor.empty(shape, dtype);
  launch(expandKernel, { dtype }, { uniforms: U.pack({ ...d, k }), read: [dy], write: [dx], grid: grid1d(Math.ceil((d.outer * d.R * d.inner) / 2), WG) });
  return dx;
}

const checkAxis = (e: Expect, x: Tensor, axis?: number) => {
  if (axis !== undefined && !(Number.isInteger(axis) && axis >= 0 && axis < x.shape.length)) e.fail(`axis ${axis} out of range for x of rank ${x.shape.length}`);
};

const outShape = (x: Tensor, axis?: number) => (axis === undefined ? [1] : x.shape.filter((_, i) => i !== axis));

function reduceOp(name: string, mean: boolean) {
  return defineOp(name, {
    check: checkAxis,
    forward: (x: Tensor, axis?: number) => {
      const d = dims(x.shape, axis);
      const k = mean ? 1 / d.R : 1;
      return { y: reduceRaw(x, d, k, outShape(x, axis)), saved: { d, k, shape: x.shape, dtype: x.dtype } };
    },
    backward: (dy, { d, k, shape, dtype }) => [expandRaw(dy, d, k, shape, dtype)],
  });
}

/** Sum over `axis` (removed from the shape), or over everything into shape [1]. Output is f32. */
export const sum = reduceOp('sum', false);
/** Mean over `axis`, or over everything into shape [1]. Output is f32. */
export const mean = reduceOp('mean', true);
