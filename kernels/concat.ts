// Channel concat: a [N, Ca, H, W], b [N, Cb, H, W] -> y [N, Ca + Cb, H, W], and the fused
// relu(concat(a, b)) that joins ShuffleNetV1's stride-2 unit (relu(concat(avgpool(x), main))).
// Per sample n, y[n] is a[n]'s Ca·H·W elements followed by b[n]'s Cb·H·W: a copy, memory-bound.
// Backward slices dy back at channel offsets 0 and Ca; after the fused ReLU the slices are masked
// with y > 0 (the ReLU's derivative, 0 at the kink, as elementwise.ts's reluBackward).
// Layout: where every per-sample block (Ca·H·W, Cb·H·W, and the slice offsets) is a whole number of
// 16-byte vectors (4 f32 or 8 halves), one invocation copies one vector; otherwise one invocation
// handles one pair of output elements (packed halves are stored a word at a time), read one by one.
import { Tensor, defineOp, launch, grid1d, uniforms, type DType, type Expect } from '../engine/index.ts';
import { WG, array, builtins, flatIndex, storePair } from './wgsl.ts';

/** 'vec': 16-byte vectors; 'pair': element pairs, for blocks that are not whole vectors. */
type Unit = 'vec' | 'pair';
type Spec = { dtype: DType; unit: Unit; relu: boolean };

/** Elements per 16-byte vector. */
const vecLen = (dtype: DType) => (dtype === 'f32' ? 4 : 8);
const vecType = (dtype: DType) => (dtype === 'f32' ? 'vec4f' : 'vec4u');

// f32 math on one 16-byte vector of `dtype`: f16 vectors are 4 words of two halves each
const unpack = (w: string) => `array<vec2f, 4>(unpack2x16float(${w}.x), unpack2x16float(${w}.y), unpack2x16float(${w}.z), unpack2x16float(${w}.w))`;
const pack = (h: string) => `vec4u(pack2x16float(${h}[0]), pack2x16float(${h}[1]), pack2x16float(${h}[2]), pack2x16float(${h}[3]))`;
const reluVec = (dtype: DType, v: string) => (dtype === 'f32' ? `max(${v}, vec4f(0.0))` : `relu8(${v})`);
const RELU8 = `fn relu8(w: vec4u) -> vec4u {
  var h = ${unpack('w')};
  for (var i = 0; i < 4; i++) { h[i] = max(h[i], vec2f(0.0)); }
  return ${pack('h')};
}`;

// ---- forward: y[n] = [a[n], b[n]] ---------------------------------------------------------------

const JU = uniforms({ total: 'u32', A: 'u32', B: 'u32', count: 'u32' });
const joinKernel = {
  key: (s: Spec) => `concat/${s.dtype}/${s.unit}${s.relu ? '/relu' : ''}`,
  wgsl: (s: Spec) => {
    if (s.unit === 'vec') {
      const T = vecType(s.dtype), f = (v: string) => (s.relu ? reluVec(s.dtype, v) : v);
      return /* wgsl */ `
${JU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<${T}>;
@group(0) @binding(2) var<storage, read> b: array<${T}>;
@group(0) @binding(3) var<storage, read_write> y: array<${T}>;
${s.relu && s.dtype === 'f16' ? RELU8 : ''}
// one invocation per 16-byte vector of y; A and B count vectors per sample
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.total) { return; }
  let n = i / (u.A + u.B);
  let r = i - n * (u.A + u.B);
  if (r < u.A) { y[i] = ${f('a[n * u.A + r]')}; } else { y[i] = ${f('b[n * u.B + r - u.A]')}; }
}`;
    }
    return /* wgsl */ `
${JU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${array(1, 'a', s.dtype, 'read')}
${array(2, 'b', s.dtype, 'read')}
${array(3, 'y', s.dtype, 'read_write')}
fn at(e: u32) -> f32 {
  let n = e / (u.A + u.B);
  let r = e - n * (u.A + u.B);
  var v: f32;
  if (r < u.A) { v = ld_a(n * u.A + r); } else { v = ld_b(n * u.B + r - u.A); }
  return ${s.relu ? 'max(v, 0.0)' : 'v'};
}
// one invocation per pair of y elements; A and B count elements per sample, count is y's size
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  if (p >= u.total) { return; }
  ${storePair('y', 'at', 'u.count')}
}`;
  },
};

// ---- backward: slices of dy, masked by y > 0 after the fused ReLU ------------------------------

const SU = uniforms({ total: 'u32', len: 'u32', S: 'u32', off: 'u32', count: 'u32' });
const sliceKernel = {
  key: (s: Spec) => `concat.slice/${s.dtype}/${s.unit}${s.relu ? '/mask' : ''}`,
  wgsl: (s: Spec) => {
    const mask = s.relu;
    if (s.unit === 'vec') {
      const T = vecType(s.dtype);
      const masked = s.dtype === 'f32' ? 'select(vec4f(0.0), dy[j], y[j] > vec4f(0.0))'
        : `mask8(dy[j], y[j])`;
      return /* wgsl */ `
${SU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> dy: array<${T}>;
${mask ? `@group(0) @binding(2) var<storage, read> y: array<${T}>;` : ''}
@group(0) @binding(${mask ? 3 : 2}) var<storage, read_write> dx: array<${T}>;
${mask && s.dtype === 'f16' ? `fn mask8(d: vec4u, w: vec4u) -> vec4u {
  var h = ${unpack('d')};
  let v = ${unpack('w')};
  for (var i = 0; i < 4; i++) { h[i] = select(vec2f(0.0), h[i], v[i] > vec2f(0.0)); }
  return ${pack('h')};
}` : ''}
// one invocation per 16-byte vector of dx: vector r of sample n sits at n·S + off + r in dy
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.total) { return; }
  let n = i / u.len;
  let j = n * u.S + u.off + i - n * u.len;
  dx[i] = ${mask ? masked : 'dy[j]'};
}`;
    }
    return /* wgsl */ `
${SU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${array(1, 'dy', s.dtype, 'read')}
${mask ? array(2, 'y', s.dtype, 'read') : ''}
${array(mask ? 3 : 2, 'dx', s.dtype, 'read_write')}
fn at(e: u32) -> f32 {
  let n = e / u.len;
  let j = n * u.S + u.off + e - n * u.len;
  return ${mask ? 'select(0.0, ld_dy(j), ld_y(j) > 0.0)' : 'ld_dy(j)'};
}
// one invocation per pair of dx elements; len, S and off count elements, count is dx's size
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  if (p >= u.total) { return; }
  ${storePair('dx', 'at', 'u.count')}
}`;
  },
};

// ---- launchers and ops -------------------------------------------------------------------------

/** Raw forward (no autograd): [a, b] along channels, with ReLU applied when `relu`. */
export function concatForward(a: Tensor, b: Tensor, relu = false): Tensor {
  const [N, Ca, H, W] = a.shape, Cb = b.shape[1], HW = H * W;
  const y = Tensor.empty([N, Ca + Cb, H, W], a.dtype);
  const E = vecLen(a.dtype);
  const unit: Unit = (Ca * HW) % E === 0 && (Cb * HW) % E === 0 ? 'vec' : 'pair';
  const [A, B, total] = unit === 'vec' ? [(Ca * HW) / E, (Cb * HW) / E, (N * (Ca + Cb) * HW) / E] : [Ca * HW, Cb * HW, Math.ceil(y.size / 2)];
  launch(joinKernel, { dtype: a.dtype, unit, relu }, { uniforms: JU.pack({ total, A, B, count: y.size }), read: [a, b], write: [y], grid: grid1d(total, WG) });
  return y;
}

/**
 * Raw slice (the backward): channels [c0, c0 + C) of dy [N, Ct, H, W] as [N, C, H, W]; where `y`
 * (dy's shape) is given, zero wherever y <= 0 (the fused ReLU's mask).
 */
export function concatSlice(dy: Tensor, c0: number, C: number, y?: Tensor): Tensor {
  const [N, Ct, H, W] = dy.shape, HW = H * W;
  const dx = Tensor.empty([N, C, H, W], dy.dtype);
  const E = vecLen(dy.dtype);
  const unit: Unit = (C * HW) % E === 0 && (Ct * HW) % E === 0 && (c0 * HW) % E === 0 ? 'vec' : 'pair';
  const k = unit === 'vec' ? E : 1;
  const total = unit === 'vec' ? dx.size / E : Math.ceil(dx.size / 2);
  launch(sliceKernel, { dtype: dy.dtype, unit, relu: !!y }, {
    uniforms: SU.pack({ total, len: (C * HW) / k, S: (Ct * HW) / k, off: (c0 * HW) / k, count: dx.size }),
    read: y ? [dy, y] : [dy], write: [dx], grid: grid1d(total, WG),
  });
  return dx;
}

const check = (e: Expect, a: Tensor, b: Tensor) => {
  e.rank('a', a, 4);
  e.shape('b', b, [a.shape[0], null, a.shape[2], a.shape[3]], ['a', a]);
  e.sameDtype('a', a, 'b', b);
  if (a.size === 0 || b.size === 0) e.fail(`a and b must not be empty, got a [${a.shape.join(', ')}] and b [${b.shape.join(', ')}]`);
};

/** Concatenate along channels: [N, Ca, H, W] ++ [N, Cb, H, W] -> [N, Ca + Cb, H, W]. */
export const concat = defineOp('concat', {
  check,
  forward: (a: Tensor, b: Tensor) => ({ y: concatForward(a, b), saved: { Ca: a.shape[1], Cb: b.shape[1] } }),
  backward: (dy, { Ca, Cb }, needs) => [needs[0] ? concatSlice(dy, 0, Ca) : null, needs[1] ? concatSlice(dy, Ca, Cb) : null],
});

/** relu(concat(a, b)) in one pass: the join of ShuffleNetV1's stride-2 unit. */
export const concatRelu = defineOp('concatRelu', {
  check,
  forward: (a: Tensor, b: Tensor) => {
    const y = concatForward(a, b, true);
    return { y, saved: { y, Ca: a.shape[1], Cb: b.shape[1] } };
  },
  backward: (dy, { y, Ca, Cb }, needs) => [needs[0] ? concatSlice(dy, 0, Ca, y) : null, needs[1] ? concatSlice(dy, Ca, Cb, y) : null],
});
