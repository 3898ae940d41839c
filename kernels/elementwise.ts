// Elementwise family: add, mul, scale, relu, addRelu (the residual add + ReLU of ShuffleNet's
// stride-1 unit), and reluBackward. One template: each invocation handles one 16-byte vector (4 f32 or
// 8 packed halves) of every operand; f16 is computed in f32 and rounded once on store.
//   add: y = a + b          backward: da = dy, db = dy
//   mul: y = a * b          backward: da = dy * b, db = dy * a
//   scale: y = s * a        backward: da = s * dy
//   relu: y = max(a, 0)     backward: da = dy * (y > 0)
//   addRelu: y = relu(a+b)  backward: da = db = dy * (y > 0)
import { Tensor, defineOp, launch, grid1d, uniforms, type DType } from '../engine/index.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';

type Fn = 'add' | 'mul' | 'scale' | 'relu' | 'addRelu' | 'reluBackward';
const ARITY: Record<Fn, 1 | 2> = { add: 2, mul: 2, scale: 1, relu: 1, addRelu: 2, reluBackward: 2 };
const EXPR: Record<Fn, string> = {
  add: 'a + b',
  mul: 'a * b',
  scale: 'u.s * a',
  relu: 'max(a, vec4f(0.0))',
  addRelu: 'max(a + b, vec4f(0.0))',
  reluBackward: 'select(vec4f(0.0), b, a > vec4f(0.0))', // a = y, b = dy
};

type Spec = { fn: Fn; dtype: DType };
const U = uniforms({ vecs: 'u32', s: 'f32' });

const kernel = {
  key: (s: Spec) => `elementwise.${s.fn}/${s.dtype}`,
  wgsl: (s: Spec) => {
    const two = ARITY[s.fn] === 2;
    const V = s.dtype === 'f32' ? 'vec4f' : 'vec4u';
    // f16: one vec4u word group holds 8 halves, computed as two vec4f halves (lo, hi)
    const lo = (v: string) => (s.dtype === 'f32' ? v : `vec4f(unpack2x16float(${v}.x), unpack2x16float(${v}.y))`);
    const hi = (v: string) => `vec4f(unpack2x16float(${v}.z), unpack2x16float(${v}.w))`;
    const body = s.dtype === 'f32'
      ? `let a = A[i];${two ? ' let b = B[i];' : ''}\n  Y[i] = ${EXPR[s.fn]};`
      : `let aw = A[i];${two ? ' let bw = B[i];' : ''}
  var r: array<vec4f, 2>;
  { let a = ${lo('aw')};${two ? ` let b = ${lo('bw')};` : ''} r[0] = ${EXPR[s.fn]}; }
  { let a = ${hi('aw')};${two ? ` let b = ${hi('bw')};` : ''} r[1] = ${EXPR[s.fn]}; }
  Y[i] = vec4u(pack2x16float(r[0].xy), pack2x16float(r[0].zw), pack2x16float(r[1].xy), pack2x16float(r[1].zw));`;
    return /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<${V}>;
${two ? `@group(0) @binding(2) var<storage, read> B: array<${V}>;` : ''}
@group(0) @binding(${two ? 3 : 2}) var<storage, read_write> Y: array<${V}>;
// one invocation per 16-byte vector
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.vecs) { return; }
  ${body}
}`;
  },
};

function run(fn: Fn, a: Tensor, b: Tensor | null, s = 0): Tensor {
  const y = Tensor.empty(a.shape, a.dtype);
  const vecs = Math.ceil(a.byteLength / 16);
  launch(kernel, { fn, dtype: a.dtype }, { uniforms: U.pack({ vecs, s }), read: b ? [a, b] : [a], write: [y], grid: grid1d(vecs, WG) });
  return y;
}

/** Raw kernels (no autograd), for backward rules and optimizers. */
export const raw = {
  add: (a: Tensor, b: Tensor) => run('add', a, b),
  mul: (a: Tensor, b: Tensor) => run('mul', a, b),
  scale: (a: Tensor, s: number) => run('scale', a, null, s),
  relu: (a: Tensor) => run('relu', a, null),
  addRelu: (a: Tensor, b: Tensor) => run('addRelu', a, b),
  reluBackward: (y: Tensor, dy: Tensor) => run('reluBackward', y, dy),
};

const binaryCheck = (e: import('../engine/index.ts').Expect, a: Tensor, b: Tensor) => {
  e.sameShape('a', a, 'b', b);
  e.sameDtype('a', a, 'b', b);
};

export const add = defineOp('add', {
  check: binaryCheck,
  forward: (a: Tensor, b: Tensor) => ({ y: raw.add(a, b), saved: {} }),
  backward: (dy) => [dy, dy],
});

export const mul = defineOp('mul', {
  check: binaryCheck,
  forward: (a: Tensor, b: Tensor) => ({ y: raw.mul(a, b), saved: { a, b } }),
  backward: (dy, { a, b }, needs) => [needs[0] ? raw.mul(dy, b) : null, needs[1] ? raw.mul(dy, a) : null],
});

export const scale = defineOp('scale', {
  check: (e, _a: Tensor, s: number) => { if (!Number.isFinite(s)) e.fail(`scale factor must be finite, got ${s}`); },
  forward: (a: Tensor, s: number) => ({ y: raw.scale(a, s), saved: { s } }),
  backward: (dy, { s }) => [raw.scale(dy, s)],
});

export const relu = defineOp('relu', {
  forward: (a: Tensor) => {
    const y = raw.relu(a);
    return { y, saved: { y } };
  },
  backward: (dy, { y }) => [raw.reluBackward(y, dy)],
});

/** relu(a + b): ShuffleNet's stride-1 residual join in one pass. */
export const addRelu = defineOp('addRelu', {
  check: binaryCheck,
  forward: (a: Tensor, b: Tensor) => {
    const y = raw.addRelu(a, b);
    return { y, saved: { y } };
  },
  backward: (dy, { y }) => {
    const d = raw.reluBackward(y, dy);
    return [d, d];
  },
});
