// dtype casts f32 <-> f16 and the loss-scale unscale with an overflow flag.
// Layout: any shape, elements in order; f16 is stored as packed halves (two per u32 word).
//   cast:            y[i] = T_out(x[i])   (f32 -> f16 rounds to nearest even, |x| >= 65520 gives ±Inf and
//                    NaN stays NaN, as IEEE and the host's toHalfBits; WGSL leaves pack2x16float
//                    indeterminate out of range, so those lanes are patched from the f32 bits.
//                    f16 -> f32 is exact)
//   unscaleAndCheck: y[i] = x[i] / S, S = scale[0] (a GPU tensor, so a replayed step sees the current
//                    loss scale); flag[0] = 1 if any x[i] or y[i] is Inf or NaN, else left as it is.
// Each invocation handles 4 elements (one vec4f or two packed words); lanes past the end are zeroed
// on store and ignored by the check, since the padded tail of a binding holds garbage.
// Backward of cast is the cast of dy back to x's dtype; unscaleAndCheck has no autograd.
import { Tensor, defineOp, launch, grid1d, uniforms, type DType } from '../engine/index.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';

const U = uniforms({ n: 'u32', quads: 'u32' });

// vec4 of elements q*4 .. q*4+3 from a binding declared by `decl`, and the matching store
const decl = (binding: number, name: string, dtype: DType, access: 'read' | 'read_write') =>
  `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${dtype === 'f32' ? 'vec4f' : 'vec2u'}>;`;
const load = (name: string, dtype: DType) =>
  dtype === 'f32' ? `${name}[q]` : `vec4f(unpack2x16float(${name}[q].x), unpack2x16float(${name}[q].y))`;
const store = (name: string, dtype: DType, v: string) =>
  dtype === 'f32' ? `${name}[q] = ${v};` : `${name}[q] = vec2u(half2(${v}.xy), half2(${v}.zw));`;

// two halves in a word with IEEE overflow: 65520 (0x477ff000) is where rounding reaches Inf
const half2 = /* wgsl */ `
fn half2(v: vec2f) -> u32 {
  let bits = bitcast<vec2u>(v);
  let mag = bits & vec2u(0x7fffffffu);
  let sign = (bits >> vec2u(16u)) & vec2u(0x8000u);
  let p = pack2x16float(clamp(v, vec2f(-65504.0), vec2f(65504.0)));
  var h = vec2u(p & 0xffffu, p >> 16u);
  h = select(h, sign | vec2u(0x7c00u), mag >= vec2u(0x477ff000u));
  h = select(h, sign | vec2u(0x7e00u), mag > vec2u(0x7f800000u));
  return h.x | (h.y << 16u);
}`;

/** WGSL: which lanes of v are Inf or NaN, by their exponent bits (WGSL may assume floats are finite). */
export const nonFinite = (v: string) => `((bitcast<vec4u>(${v}) & vec4u(0x7f800000u)) == vec4u(0x7f800000u))`;

type CastSpec = { from: DType; to: DType };
const castKernel = {
  key: (s: CastSpec) => `cast/${s.from}->${s.to}`,
  wgsl: (s: CastSpec) => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${decl(1, 'x', s.from, 'read')}
${decl(2, 'y', s.to, 'read_write')}
${s.to === 'f16' ? half2 : ''}
// one invocation per 4 elements
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let q = ${flatIndex()};
  if (q >= u.quads) { return; }
  let live = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u) < vec4u(u.n);
  let v = select(vec4f(0.0), ${load('x', s.from)}, live);
  ${store('y', s.to, 'v')}
}`,
};

type CheckSpec = { dtype: DType };
const unscaleKernel = {
  key: (s: CheckSpec) => `cast.unscaleAndCheck/${s.dtype}`,
  wgsl: (s: CheckSpec) => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${decl(1, 'x', s.dtype, 'read')}
@group(0) @binding(2) var<storage, read> scale: array<f32>;
${decl(3, 'y', 'f32', 'read_write')}
@group(0) @binding(4) var<storage, read_write> flag: array<atomic<u32>>;
// one invocation per 4 elements; flag is an f32 tensor, set to 1.0 (0x3f800000) by any overflow
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let q = ${flatIndex()};
  if (q >= u.quads) { return; }
  let live = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u) < vec4u(u.n);
  let x4 = ${load('x', s.dtype)};
  let v = select(vec4f(0.0), x4 * (1.0 / scale[0]), live);
  ${store('y', 'f32', 'v')}
  if (any(live & (${nonFinite('x4')} | ${nonFinite('v')}))) { atomicMax(&flag[0], 0x3f800000u); }
}`,
};

const quads = (n: number) => Math.ceil(n / 4);

/** x converted to `dtype` (a copy when it already is), no autograd. */
export function castRaw(x: Tensor, dtype: DType): Tensor {
  const y = Tensor.empty(x.shape, dtype);
  const q = quads(x.size);
  launch(castKernel, { from: x.dtype, to: dtype }, { uniforms: U.pack({ n: x.size, quads: q }), read: [x], write: [y], grid: grid1d(q, WG) });
  return y;
}

/**
 * y = x / scale[0] as f32, and flag[0] = 1 if any element of x or y is Inf or NaN (flag is never
 * cleared here: reset it before the first check of a step). scale and flag are f32 tensors.
 */
export function unscaleAndCheck(x: Tensor, scale: Tensor, flag: Tensor): Tensor {
  const y = Tensor.empty(x.shape, 'f32');
  const q = quads(x.size);
  launch(unscaleKernel, { dtype: x.dtype }, { uniforms: U.pack({ n: x.size, quads: q }), read: [x, scale], write: [y, flag], grid: grid1d(q, WG) });
  return y;
}

/** x as `dtype` (f32 <-> f16); the gradient is cast back to x's dtype. */
export const cast = defineOp('cast', {
  check: (e, _x: Tensor, dtype: DType) => { if (dtype !== 'f32' && dtype !== 'f16') e.fail(`dtype must be f32 or f16, got ${String(dtype)}`); },
  forward: (x: Tensor, dtype: DType) => ({ y: castRaw(x, dtype), saved: { from: x.dtype } }),
  backward: (dy, { from }) => [castRaw(dy, from)],
});
