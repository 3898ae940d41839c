// dtype casts f32 <-> f16, and the WGSL bit tests for Inf and NaN that kernels share.
// Layout: any shape, elements in order; f16 is stored as packed halves (two per u32 word).
//   cast: y[i] = T_out(x[i])   (f32 -> f16 rounds to nearest even, |x| >= 65520 gives ±Inf and NaN
//         stays NaN, as IEEE and the host's toHalfBits; WGSL leaves pack2x16float indeterminate out
//         of range, so those lanes are patched from the f32 bits. f16 -> f32 is exact)
// Each invocation handles 4 elements (one vec4f or two packed words); lanes past the end are zeroed
// on store, since the padded tail of a binding holds garbage.
// Backward of cast is the cast of dy back to x's dtype.
// A tensor over the storage binding limit is cast in binding windows of its elements (windows.ts).
import { Tensor, defineOp, grid1d, type DType } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';
import { batchWindows, rowsOf } from './windows.ts';

type Lanes = 1 | 2 | 4;
/** `mask` and `op` applied to the bits of the f32 value v (`lanes` wide), against `ref`, lane by lane. */
const bitTest = (v: string, lanes: Lanes, mask: string, op: string, ref: string) => {
  const T = lanes === 1 ? 'u32' : `vec${lanes}u`, c = (k: string) => (lanes === 1 ? k : `${T}(${k})`);
  return `((bitcast<${T}>(${v}) & ${c(mask)}) ${op} ${c(ref)})`;
};

/**
 * WGSL: which lanes of the f32 value v (`lanes` wide) are Inf or NaN, by their exponent bits (WGSL
 * may assume floats are finite, so neither `v != v` nor comparisons with Inf are reliable).
 */
export const nonFinite = (v: string, lanes: Lanes = 4) => bitTest(v, lanes, '0x7f800000u', '==', '0x7f800000u');

/** WGSL: which lanes of the f32 value v are NaN (exponent all ones, mantissa not zero), by their bits. */
export const isNan = (v: string, lanes: Lanes = 4) => bitTest(v, lanes, '0x7fffffffu', '>', '0x7f800000u');

// the half bits of v with IEEE overflow: 65520 (0x477ff000) is where rounding reaches Inf
const halfBits = /* wgsl */ `
fn halfBits(v: vec4f) -> vec4u {
  let bits = bitcast<vec4u>(v);
  let sign = (bits >> vec4u(16u)) & vec4u(0x8000u);
  let c = clamp(v, vec4f(-65504.0), vec4f(65504.0));
  let p = vec2u(pack2x16float(c.xy), pack2x16float(c.zw));
  var h = vec4u(p.x & 0xffffu, p.x >> 16u, p.y & 0xffffu, p.y >> 16u);
  h = select(h, sign | vec4u(0x7c00u), (bits & vec4u(0x7fffffffu)) >= vec4u(0x477ff000u));
  h = select(h, sign | vec4u(0x7e00u), ${isNan('v')});
  return h;
}`;

type CastSpec = { from: DType; to: DType };

// An f16 y is declared u16: the kernel writes the half bits itself (see halfBits), the same bytes
// in every f16 storage mode.
const castKernel = defineKernel({
  name: 'cast',
  variant: (s: CastSpec) => `${s.from}->${s.to}`,
  uniforms: { n: 'u32', quads: 'u32' },
  buffers: (s) => [input('x', s.from, 4), output('y', s.to === 'f16' ? 'u16' : 'f32', 4)],
  body: (s) => /* wgsl */ `${s.to === 'f16' ? halfBits : ''}
// one invocation per 4 elements
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let q = ${flatIndex()};
  if (q >= u.quads) { return; }
  let live = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u) < vec4u(u.n);
  let v = select(vec4f(0.0), ld_x(q), live);
  st_y(q, ${s.to === 'f16' ? 'halfBits(v)' : 'v'});
}`,
});

/** x converted to `dtype` (a copy when it already is), no autograd. */
export function castForward(x: Tensor, dtype: DType): Tensor {
  const y = Tensor.empty(x.shape, dtype);
  // flat: the windows' rows are single elements
  for (const w of batchWindows('cast', x.size, [x, y])) {
    const quads = Math.ceil(w.count / 4);
    castKernel.run({ from: x.dtype, to: dtype }, {
      uniforms: { n: w.count, quads }, buffers: { x: rowsOf(x, x.size, w), y: rowsOf(y, x.size, w) }, grid: grid1d(quads, WG),
    });
  }
  return y;
}

/** x as `dtype` (f32 <-> f16); the gradient is cast back to x's dtype. */
export const cast = defineOp('cast', {
  check: (e, _x: Tensor, dtype: DType) => { if (dtype !== 'f32' && dtype !== 'f16') e.fail(`dtype must be f32 or f16, got ${String(dtype)}`); },
  forward: (x: Tensor, dtype: DType) => ({ y: castForward(x, dtype), saved: { from: x.dtype } }),
  backward: (dy, { from }) => [castForward(dy, from)],
});
