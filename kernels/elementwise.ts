// Elementwise family: add, mul, scale, relu, addRelu (the residual add + ReLU of ShuffleNet's
// stride-1 unit), and reluBackward. One template: an item is one 16-byte vector (4 f32 or 8 packed
// halves) of every operand, an invocation takes 1-4 items (its tuned launch shape, launch_shape.ts);
// f16 is computed in f32 and rounded once on store.
//   add: y = a + b          backward: da = dy, db = dy
//   mul: y = a * b          backward: da = dy * b, db = dy * a
//   scale: y = s * a        backward: da = s * dy
//   relu: y = max(a, 0)     backward: da = dy * (y > 0)
//   addRelu: y = relu(a+b)  backward: da = db = dy * (y > 0)
import { Tensor, defineOp, grid1d, setGradientSum, type DType } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { batchWindows, rowsOf } from './windows.ts';
import { DEFAULT_LAUNCH, chooseLaunch, launchGrid, launchMain, launchVariant, type LaunchShape } from './launch_shape.ts';

export type ElementwiseFn = 'add' | 'mul' | 'scale' | 'relu' | 'addRelu' | 'reluBackward';
const ARITY: Record<ElementwiseFn, 1 | 2> = { add: 2, mul: 2, scale: 1, relu: 1, addRelu: 2, reluBackward: 2 };
const EXPR: Record<ElementwiseFn, string> = {
  add: 'a + b',
  mul: 'a * b',
  scale: 'u.s * a',
  relu: 'max(a, vec4f(0.0))',
  addRelu: 'max(a + b, vec4f(0.0))',
  reluBackward: 'select(vec4f(0.0), b, a > vec4f(0.0))', // a = y, b = dy
};

type Spec = { fn: ElementwiseFn; dtype: DType; launch: LaunchShape };
/** vec4s of `dtype` in one 16-byte vector: 1 for f32, 2 for f16. */
const quads = (dtype: DType) => (dtype === 'f32' ? 1 : 2);

const kernel = defineKernel({
  name: 'elementwise',
  variant: (s: Spec) => `${s.fn}/${s.dtype}${launchVariant(s.launch)}`,
  uniforms: { vecs: 'u32', s: 'f32' },
  buffers: (s) => [input('A', s.dtype, 4), ...(ARITY[s.fn] === 2 ? [input('B', s.dtype, 4)] : []), output('Y', s.dtype, 4)],
  body: (s) => /* wgsl */ `
// one item per 16-byte vector (4 f32 or 8 halves), computed in f32 and rounded once on store
${launchMain(s.launch, 'u.vecs', `for (var q = 0u; q < ${quads(s.dtype)}u; q++) {
    let j = ${quads(s.dtype)}u * v + q;
    let a = ld_A(j);${ARITY[s.fn] === 2 ? ' let b = ld_B(j);' : ''}
    st_Y(j, ${EXPR[s.fn]});
  }`)}`,
});

/** The launch shape of `fn` over tensors like `a`: tuned per size (every shape gives the same bits). */
function launchOf(fn: ElementwiseFn, a: Tensor, launch?: LaunchShape): LaunchShape {
  if (launch) return launch;
  const { dtype } = a, binary = ARITY[fn] === 2;
  return chooseLaunch({
    kernel: 'elementwise', shape: `${fn} ${dtype} ${a.size}`, text: `elementwise ${fn} ${dtype} [${a.shape.join(', ')}]`,
    wgsl: () => kernel.wgsl({ fn, dtype, launch: DEFAULT_LAUNCH }),
    inputs: Array(binary ? 2 : 1).fill([a.shape, dtype]),
    run: (s, [x, y]) => runElementwise(fn, x!, y ?? null, 1, s).dispose(),
  });
}

/** `launch`: a launch shape to use instead of the tuned or default one (tests, the tuner). */
export function runElementwise(fn: ElementwiseFn, a: Tensor, b: Tensor | null, s = 0, launch?: LaunchShape): Tensor {
  const y = Tensor.empty(a.shape, a.dtype);
  const operands = b ? [a, b, y] : [a, y];
  const shape = launchOf(fn, a, launch);
  // flat: windowed by elements when a tensor is over the binding limit
  for (const w of batchWindows(`elementwise.${fn}`, a.size, operands)) {
    const [A, B, Y] = operands.map((t) => rowsOf(t, a.size, w));
    const vecs = Math.ceil((w.count * (a.dtype === 'f32' ? 4 : 2)) / 16);
    kernel.run({ fn, dtype: a.dtype, launch: shape }, { uniforms: { vecs, s }, buffers: b ? { A, B, Y: Y! } : { A, Y: B }, grid: launchGrid(vecs, shape) });
  }
  return y;
}

/** The sum of `parts` (all one shape): how kernels combine the per-window partials of a sum over a batch. */
export function sumOf(parts: readonly Tensor[]): Tensor {
  let total = parts[0]!.share();
  for (const p of parts.slice(1)) {
    const next = addForward(total, p);
    total.dispose();
    total = next;
  }
  return total;
}

// Launchers without autograd (for backward rules and optimizers), named <op><Pass>.
export const addForward = (a: Tensor, b: Tensor) => runElementwise('add', a, b);
export const mulForward = (a: Tensor, b: Tensor) => runElementwise('mul', a, b);
export const scaleForward = (a: Tensor, s: number) => runElementwise('scale', a, null, s);
export const reluForward = (a: Tensor) => runElementwise('relu', a, null);
export const addReluForward = (a: Tensor, b: Tensor) => runElementwise('addRelu', a, b);
export const reluBackward = (y: Tensor, dy: Tensor) => runElementwise('reluBackward', y, dy);

// autograd sums the gradients that reach one tensor along several paths with this kernel
setGradientSum(addForward);

const binaryCheck = (e: import('../engine/index.ts').Expect, a: Tensor, b: Tensor) => {
  e.sameShape('a', a, 'b', b);
  e.sameDtype('a', a, 'b', b);
};

export const add = defineOp('add', {
  check: binaryCheck,
  forward: (a: Tensor, b: Tensor) => ({ y: addForward(a, b), saved: {} }),
  backward: (dy) => [dy, dy],
});

export const mul = defineOp('mul', {
  check: binaryCheck,
  forward: (a: Tensor, b: Tensor) => ({ y: mulForward(a, b), saved: { a, b } }),
  backward: (dy, { a, b }, needs) => [needs[0] ? mulForward(dy, b) : null, needs[1] ? mulForward(dy, a) : null],
});

export const scale = defineOp('scale', {
  check: (e, _a: Tensor, s: number) => { if (!Number.isFinite(s)) e.fail(`scale factor must be finite, got ${s}`); },
  forward: (a: Tensor, s: number) => ({ y: scaleForward(a, s), saved: { s } }),
  backward: (dy, { s }) => [scaleForward(dy, s)],
});

export const relu = defineOp('relu', {
  forward: (a: Tensor) => {
    const y = reluForward(a);
    return { y, saved: { y } };
  },
  backward: (dy, { y }) => [reluBackward(y, dy)],
});

/** relu(a + b): ShuffleNet's stride-1 residual join in one pass. */
export const addRelu = defineOp('addRelu', {
  check: binaryCheck,
  forward: (a: Tensor, b: Tensor) => {
    const y = addReluForward(a, b);
    return { y, saved: { y } };
  },
  backward: (dy, { y }) => {
    const d = reluBackward(y, dy);
    return [d, d];
  },
});
