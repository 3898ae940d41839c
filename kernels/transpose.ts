// Axis permutation as a copy, and reshape as a view.
//   permute: y[i_0, .., i_{r-1}] = x[j] with j = Σ_d i_d · stride_x[perm[d]], y.shape[d] = x.shape[perm[d]]
//   transpose(x, d0, d1) is the permutation that swaps d0 and d1 (PyTorch's torch.transpose).
// Any rank up to 6: shapes are left-padded with 1s to rank 6, and the output shape and the permuted
// input strides travel in uniforms, so one pipeline per dtype serves every permutation.
// One invocation per 16 consecutive elements of y (an even count, so f16 pairs are whole): it finds
// the first one's x index with divisions, then steps through the rest like an odometer.
// Backward: the inverse permutation of dy (a transpose is its own inverse); reshape's backward is a
// view of dy with x's shape. reshape copies nothing: y shares x's storage.
// permuteForward also copies pointwise conv dgrad's per-group wᵀ (conv2d_pointwise.ts).
import { Tensor, defineOp, grid1d, fmt, strides, type DType, type Expect } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';

const R = 6;
const CH = 16; // elements per invocation: the index is decomposed once per chunk (u32 division is scalar and slow on CPUs)
const dims = [...Array(R).keys()];

const kernel = defineKernel({
  name: 'transpose',
  variant: (s: { dtype: DType }) => s.dtype,
  // y's shape (o0..o5) and, per y axis, the stride of the x axis it reads (t0..t5)
  uniforms: {
    total: 'u32',
    ...Object.fromEntries(dims.map((d) => [`o${d}`, 'u32'])),
    ...Object.fromEntries(dims.map((d) => [`t${d}`, 'u32'])),
  } as Record<string, 'u32'>,
  buffers: (s) => [input('x', s.dtype), output('y', s.dtype)],
  body: (s) => /* wgsl */ `
// y's coordinates c0..c5 of the current element and the x index j they map to
var<private> c: array<u32, ${R}>;
var<private> j: u32;
// odometer step to the next element of y: the last axis advances, a wrap carries into the one before
fn next() {
  ${dims.slice().reverse().map((d) => d === 0 ? `c[0] += 1u; j += u.t0;` : `c[${d}] += 1u; j += u.t${d};
  if (c[${d}] < u.o${d}) { return; }
  c[${d}] = 0u; j -= u.o${d} * u.t${d};`).join('\n  ')}
}
fn value() -> f32 { return ld_x(min(j, u.total - 1u)); }
// one invocation per ${CH} consecutive elements of y
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i0 = (${flatIndex()}) * ${CH}u;
  if (i0 >= u.total) { return; }
  var r = i0;
  j = 0u;
  ${dims.slice(1).reverse().map((d) => `c[${d}] = r % u.o${d}; j += c[${d}] * u.t${d}; r /= u.o${d};`).join('\n  ')}
  c[0] = r; j += r * u.t0;
  let n = min(${CH}u, u.total - i0);
  ${s.dtype === 'f32' ? `for (var e = 0u; e < n; e++) { st_y(i0 + e, value()); next(); }`
    : `for (var e = 0u; e < n; e += 2u) {
    let lo = value(); next();
    let hi = select(0.0, value(), e + 1u < n); next();
    st2_y((i0 + e) / 2u, vec2f(lo, hi));
  }`}
}`,
});

/** y = x with its axes permuted (y.shape[d] = x.shape[perm[d]]), a copy, no autograd. */
export function permuteForward(x: Tensor, perm: readonly number[]): Tensor {
  const r = x.shape.length;
  const y = Tensor.empty(perm.map((p) => x.shape[p]), x.dtype);
  const xs = strides(x.shape);
  const pad = R - r;
  const vals: Record<string, number> = { total: x.size };
  for (let d = 0; d < R; d++) {
    vals[`o${d}`] = d < pad ? 1 : x.shape[perm[d - pad]];
    vals[`t${d}`] = d < pad ? 0 : xs[perm[d - pad]];
  }
  if (x.size > 0) kernel.run({ dtype: x.dtype }, { uniforms: vals, buffers: { x, y }, grid: grid1d(Math.ceil(x.size / CH), WG) });
  return y;
}

const inverse = (perm: readonly number[]) => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, d) => { inv[p] = d; });
  return inv;
};

function checkPerm(e: Expect, x: Tensor, perm: readonly number[]) {
  const r = x.shape.length;
  if (r > R) e.fail(`x has rank ${r}, at most ${R} is supported: x is ${fmt(x.shape)}`);
  const ok = perm.length === r && perm.every((p) => Number.isInteger(p) && p >= 0 && p < r) && new Set(perm).size === r;
  if (!ok) e.fail(`perm ${fmt(perm)} is not a permutation of the ${r} axes of x ${fmt(x.shape)}`);
}

/** x with its axes permuted: y.shape[d] = x.shape[perm[d]] (a copy); backward permutes dy back. */
export const permute = defineOp('permute', {
  check: checkPerm,
  forward: (x: Tensor, perm: readonly number[]) => ({ y: permuteForward(x, perm), saved: { inv: inverse(perm) } }),
  backward: (dy, { inv }) => [permuteForward(dy, inv)],
});

const swap = (r: number, d0: number, d1: number) => {
  const perm = [...Array(r).keys()];
  [perm[d0], perm[d1]] = [perm[d1], perm[d0]];
  return perm;
};
const axis = (d: number, r: number) => (d < 0 ? d + r : d);

/** x with axes dim0 and dim1 swapped (negative dims count from the end), as a copy; rank <= 6. */
export const transpose = defineOp('transpose', {
  check: (e, x: Tensor, dim0: number, dim1: number) => {
    const r = x.shape.length;
    for (const d of [dim0, dim1]) if (!(Number.isInteger(d) && d >= -r && d < r)) e.fail(`dim ${d} out of range for x ${fmt(x.shape)}`);
    if (r > R) e.fail(`x has rank ${r}, at most ${R} is supported: x is ${fmt(x.shape)}`);
  },
  forward: (x: Tensor, dim0: number, dim1: number) => {
    const perm = swap(x.shape.length, axis(dim0, x.shape.length), axis(dim1, x.shape.length));
    return { y: permuteForward(x, perm), saved: { perm } };
  },
  backward: (dy, { perm }) => [permuteForward(dy, perm)],
});

/** `shape` with a single -1 resolved from x's element count, or why it does not fit x. */
function resolve(x: Tensor, shape: readonly number[]): number[] | string {
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (shape.filter((d) => d === -1).length > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) return `invalid shape ${fmt(shape)} for x ${fmt(x.shape)}`;
  const out = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  if (out.reduce((p, d) => p * d, 1) !== x.size || !out.every(Number.isInteger)) return `cannot reshape x ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`;
  return out;
}

/** x viewed with another shape (one dim may be -1), no copy; the gradient is dy viewed back. */
export const reshape = defineOp('reshape', {
  check: (e, x: Tensor, shape: readonly number[]) => { const r = resolve(x, shape); if (typeof r === 'string') e.fail(r); },
  forward: (x: Tensor, shape: readonly number[]) => ({ y: x.reshapeView(resolve(x, shape) as number[]), saved: { shape: x.shape } }),
  // a new handle: autograd disposes what backward returns, and dy is disposed separately
  backward: (dy, { shape }) => [dy.reshapeView(shape)],
});
