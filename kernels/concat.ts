// Channel concat: a [N, Ca, H, W], b [N, Cb, H, W] -> y [N, Ca + Cb, H, W], and the fused
// relu(concat(a, b)) that joins ShuffleNetV1's stride-2 unit (relu(concat(avgpool(x), main))).
// Per sample n, y[n] is a[n]'s Ca·H·W elements followed by b[n]'s Cb·H·W: a copy, memory-bound.
// Backward slices dy back at channel offsets 0 and Ca; after the fused ReLU the slices are masked
// with y > 0 (the ReLU's derivative, 0 at the kink, as elementwise.ts's reluBackward).
// Layout: where every per-sample block (Ca·H·W, Cb·H·W, and the slice offsets) is a whole number of
// 16-byte vectors (4 f32 or 8 halves), one invocation copies one vector; otherwise one invocation
// handles one pair of output elements (packed halves are stored a word at a time), read one by one.
// Samples are independent, so a batch over the storage binding limit runs in binding windows of whole
// samples (windows.ts) of every operand.
import { Tensor, defineOp, grid1d, type DType, type Expect } from '../engine/index.ts';
import { defineKernel, input, output, type BufferType, type Vec } from './kernel.ts';
import { WG, builtins, flatIndex, pairMain } from './wgsl.ts';
import { batchWindows, rowsOf } from './windows.ts';

/** 'vec': 16-byte vectors; 'pair': element pairs, for blocks that are not whole vectors. */
type Unit = 'vec' | 'pair';
type Spec = { dtype: DType; unit: Unit; relu: boolean };

/** Elements per 16-byte vector. */
const vecLen = (dtype: DType) => (dtype === 'f32' ? 4 : 8);

/**
 * How a kernel's buffers are read: pairs of elements, or 16-byte vectors: as values where it computes
 * (the ReLU and its mask: a vec4f, or for f16 a mat2x4f of two quads), else as raw words, a byte copy.
 */
const bufferOf = (s: Spec): { type: BufferType; vec: Vec } =>
  s.unit === 'pair' ? { type: s.dtype, vec: 1 } : s.relu ? { type: s.dtype, vec: vecLen(s.dtype) as Vec } : { type: 'u32', vec: 4 };

// f32 math on one 16-byte vector: a vec4f, or two vec4f quads of halves (mat2x4f columns)
const perQuad = (dtype: DType, f: (q: string) => string) =>
  (dtype === 'f32' ? f('') : `mat2x4f(${f('[0]')}, ${f('[1]')})`);

// ---- forward: y[n] = [a[n], b[n]] ---------------------------------------------------------------

const joinKernel = defineKernel({
  name: 'concat',
  variant: (s: Spec) => `${s.dtype}/${s.unit}${s.relu ? '/relu' : ''}`,
  uniforms: { total: 'u32', A: 'u32', B: 'u32', count: 'u32' },
  buffers: (s) => {
    const { type, vec } = bufferOf(s);
    return [input('a', type, vec), input('b', type, vec), output('y', type, vec)];
  },
  body: (s) => {
    if (s.unit === 'vec') {
      const f = (v: string) => (s.relu ? `relu(${v})` : v);
      return /* wgsl */ `
${s.relu ? `fn relu(v: T_y) -> T_y { return ${perQuad(s.dtype, (q) => `max(v${q}, vec4f(0.0))`)}; }` : ''}
// one invocation per 16-byte vector of y; A and B count vectors per sample
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.total) { return; }
  let n = i / (u.A + u.B);
  let r = i - n * (u.A + u.B);
  if (r < u.A) { st_y(i, ${f('ld_a(n * u.A + r)')}); } else { st_y(i, ${f('ld_b(n * u.B + r - u.A)')}); }
}`;
    }
    return /* wgsl */ `
fn at(e: u32) -> f32 {
  let n = e / (u.A + u.B);
  let r = e - n * (u.A + u.B);
  var v: f32;
  if (r < u.A) { v = ld_a(n * u.A + r); } else { v = ld_b(n * u.B + r - u.A); }
  return ${s.relu ? 'max(v, 0.0)' : 'v'};
}
// A and B count elements per sample, count is y's size
${pairMain('y', 'at', 'u.count')}`;
  },
});

// ---- backward: slices of dy, masked by y > 0 after the fused ReLU ------------------------------

const sliceKernel = defineKernel({
  name: 'concat.slice',
  variant: (s: Spec) => `${s.dtype}/${s.unit}${s.relu ? '/mask' : ''}`,
  uniforms: { total: 'u32', len: 'u32', S: 'u32', off: 'u32', count: 'u32' },
  buffers: (s) => {
    const { type, vec } = bufferOf(s);
    return [input('dy', type, vec), ...(s.relu ? [input('y', type, vec)] : []), output('dx', type, vec)];
  },
  body: (s) => {
    const mask = s.relu;
    if (s.unit === 'vec') {
      return /* wgsl */ `
${mask ? `fn masked(d: T_dy, v: T_y) -> T_dy { return ${perQuad(s.dtype, (q) => `select(vec4f(0.0), d${q}, v${q} > vec4f(0.0))`)}; }` : ''}
// one invocation per 16-byte vector of dx: vector r of sample n sits at n·S + off + r in dy
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.total) { return; }
  let n = i / u.len;
  let j = n * u.S + u.off + i - n * u.len;
  st_dx(i, ${mask ? 'masked(ld_dy(j), ld_y(j))' : 'ld_dy(j)'});
}`;
    }
    return /* wgsl */ `
fn at(e: u32) -> f32 {
  let n = e / u.len;
  let j = n * u.S + u.off + e - n * u.len;
  return ${mask ? 'select(0.0, ld_dy(j), ld_y(j) > 0.0)' : 'ld_dy(j)'};
}
// len, S and off count elements, count is dx's size
${pairMain('dx', 'at', 'u.count')}`;
  },
});

// ---- launchers and ops -------------------------------------------------------------------------

/** Raw forward (no autograd): [a, b] along channels, with ReLU applied when `relu`. */
export function concatForward(a: Tensor, b: Tensor, relu = false): Tensor {
  const [N, Ca, H, W] = a.shape, Cb = b.shape[1], HW = H * W;
  const y = Tensor.empty([N, Ca + Cb, H, W], a.dtype);
  const E = vecLen(a.dtype);
  const unit: Unit = (Ca * HW) % E === 0 && (Cb * HW) % E === 0 ? 'vec' : 'pair';
  for (const w of batchWindows(relu ? 'concatRelu' : 'concat', N, [a, b, y])) {
    const count = w.count * (Ca + Cb) * HW;
    const [A, B, total] = unit === 'vec' ? [(Ca * HW) / E, (Cb * HW) / E, count / E] : [Ca * HW, Cb * HW, Math.ceil(count / 2)];
    joinKernel.run({ dtype: a.dtype, unit, relu }, {
      uniforms: { total, A, B, count }, buffers: { a: rowsOf(a, N, w), b: rowsOf(b, N, w), y: rowsOf(y, N, w) }, grid: grid1d(total, WG),
    });
  }
  return y;
}

/**
 * Raw backward, a slice: channels [c0, c0 + C) of dy [N, Ct, H, W] as [N, C, H, W]; where `y`
 * (dy's shape) is given, zero wherever y <= 0 (the fused ReLU's mask).
 */
export function concatBackward(dy: Tensor, c0: number, C: number, y?: Tensor): Tensor {
  const [N, Ct, H, W] = dy.shape, HW = H * W;
  const dx = Tensor.empty([N, C, H, W], dy.dtype);
  const E = vecLen(dy.dtype);
  const unit: Unit = (C * HW) % E === 0 && (Ct * HW) % E === 0 && (c0 * HW) % E === 0 ? 'vec' : 'pair';
  const k = unit === 'vec' ? E : 1;
  const batched = y ? [dy, y, dx] : [dy, dx];
  for (const w of batchWindows(y ? 'concatRelu.backward' : 'concat.backward', N, batched)) {
    const DY = rowsOf(dy, N, w), DX = rowsOf(dx, N, w);
    const count = w.count * C * HW, total = unit === 'vec' ? count / E : Math.ceil(count / 2);
    sliceKernel.run({ dtype: dy.dtype, unit, relu: !!y }, {
      uniforms: { total, len: (C * HW) / k, S: (Ct * HW) / k, off: (c0 * HW) / k, count },
      buffers: y ? { dy: DY, y: rowsOf(y, N, w), dx: DX } : { dy: DY, dx: DX }, grid: grid1d(total, WG),
    });
  }
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
  backward: (dy, { Ca, Cb }, needs) => [needs[0] ? concatBackward(dy, 0, Ca) : null, needs[1] ? concatBackward(dy, Ca, Cb) : null],
});

/** relu(concat(a, b)) in one pass: the join of ShuffleNetV1's stride-2 unit. */
export const concatRelu = defineOp('concatRelu', {
  check,
  forward: (a: Tensor, b: Tensor) => {
    const y = concatForward(a, b, true);
    return { y, saved: { y, Ca: a.shape[1], Cb: b.shape[1] } };
  },
  backward: (dy, { y, Ca, Cb }, needs) => [needs[0] ? concatBackward(dy, 0, Ca, y) : null, needs[1] ? concatBackward(dy, Ca, Cb, y) : null],
});
