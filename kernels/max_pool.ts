// Max pool, NCHW, k×k window at stride s (default 3x3/2, ShuffleNetV1's stem pool) with MindSpore's
// pad_mode='same'; geometry, thread mapping and the WGSL template are in pool2d.ts.
//   y[n, c, oh, ow] = max over real (ih, iw) in rows oh·s - pt .. + k - 1, cols ow·s - pl .. + k - 1
// Padding never wins: it is skipped, as if -inf. Ties go to the first pixel in row-major window order
// (strict `>` while scanning), as in PyTorch.
// When a gradient is wanted forward also writes `arg`, the argmax's window-local index kh·k + kw.
// arg is a Tensor of y's shape and dtype whose storage holds integers, not floats: one u32 per element
// for f32, one u16 per element (two per word, like packed halves) for f16, so it is indexed exactly
// like y and costs no more memory. Only maxPoolBackward reads it.
// Backward is a gather (no atomics where windows overlap): each pixel sums dy over the windows
// (at most ceil(k/s)²) that contain it and whose arg points at it.
// Images are independent, so a batch over the storage binding limit runs in binding windows of whole
// images (windows.ts), each dispatch the pool of its images alone.
import { Tensor, defineOp, gradEnabled, type Shape } from '../engine/index.ts';
import {
  type PoolOptions, type Reducer, type Plan, checkPool, poolGeometry, choosePoolPlan,
  forwardKernel, backwardKernel, uniformsOf, gridOf,
} from './pool2d.ts';
import { batchWindows, rowsOf } from './windows.ts';

const max: Reducer = {
  name: 'max_pool',
  first: (i, v, k) => `acc[${i}] = ${v}; arg[${i}] = ${k};`,
  take: (i, v, k) => `if (${v} > acc[${i}]) { acc[${i}] = ${v}; arg[${i}] = ${k}; }`,
  result: (i) => `acc[${i}]`,
  term: (dy, a, k) => `select(0.0, ${dy}, ${a} == ${k})`,
  usesArg: true,
};
const forward = forwardKernel(max);
const backward = backwardKernel(max);

/**
 * Raw forward (no autograd): y, and the argmax indices when `withArg` (layout in the header). `plan`:
 * a thread plan instead of the tuned or default one (tests).
 */
export function maxPoolForward(x: Tensor, opts: PoolOptions = {}, withArg = true, plan?: Plan): { y: Tensor; arg: Tensor | null } {
  const g = poolGeometry(x.shape, opts), dtype = x.dtype;
  const shape = [g.N, g.C, g.Ho, g.Wo];
  const y = Tensor.empty(shape, dtype);
  const arg = withArg ? Tensor.empty(shape, dtype) : null;
  const spec = (p: Plan) => ({ dtype, k: g.k, s: g.s, plan: p, arg: withArg });
  const run = (p: Plan, x: Tensor, y: Tensor, arg: Tensor | null) => {
    const batched = arg ? [x, y, arg] : [x, y];
    for (const w of batchWindows('maxPool2d', g.N, batched)) {
      const [X, Y, A] = batched.map((t) => rowsOf(t, g.N, w));
      const total = w.count * g.C * g.Ho * g.Wo;
      forward.run(spec(p), { uniforms: uniformsOf(g, total), buffers: A ? { x: X, y: Y, arg_out: A } : { x: X, y: Y }, grid: gridOf(p, dtype, total) });
    }
  };
  run(plan ?? choosePoolPlan({
    kernel: 'max_pool.forward', kind: 'forward', g, dtype, arg: withArg, wgsl: (p) => forward.wgsl(spec(p)),
    inputs: [x.shape], outputs: withArg ? [shape, shape] : [shape], run: (p, [a, b, c]) => run(p, a!, b!, c ?? null),
  }), x, y, arg);
  return { y, arg };
}

/** Raw backward: dx of x's shape from dy and the forward's arg; `plan` as for forward. */
export function maxPoolBackward(dy: Tensor, arg: Tensor, xShape: Shape, opts: PoolOptions = {}, plan?: Plan): Tensor {
  const g = poolGeometry(xShape, opts), dtype = dy.dtype;
  const dx = Tensor.empty(xShape, dtype);
  const spec = (p: Plan) => ({ dtype, k: g.k, s: g.s, plan: p, arg: true });
  const run = (p: Plan, dy: Tensor, arg: Tensor, dx: Tensor) => {
    for (const w of batchWindows('maxPool2d.backward', g.N, [dy, arg, dx])) {
      const total = w.count * g.C * g.H * g.W;
      backward.run(spec(p), {
        uniforms: uniformsOf(g, total), buffers: { dy: rowsOf(dy, g.N, w), arg: rowsOf(arg, g.N, w), dx: rowsOf(dx, g.N, w) }, grid: gridOf(p, dtype, total),
      });
    }
  };
  run(plan ?? choosePoolPlan({
    kernel: 'max_pool.backward', kind: 'backward', g, dtype, arg: true, wgsl: (p) => backward.wgsl(spec(p)),
    inputs: [dy.shape, dy.shape], outputs: [xShape], run: (p, [a, b, c]) => run(p, a!, b!, c!),
  }), dy, arg, dx);
  return dx;
}

/** Max pool, default 3x3 stride 2, pad_mode 'same'. */
export const maxPool2d = defineOp('maxPool2d', {
  check: (e, x: Tensor, opts?: PoolOptions) => checkPool(e, x, opts),
  forward: (x: Tensor, opts: PoolOptions = {}) => {
    const { y, arg } = maxPoolForward(x, opts, gradEnabled() && x.requiresGrad);
    return { y, saved: { arg, xShape: x.shape, opts } };
  },
  backward: (dy, { arg, xShape, opts }) => [maxPoolBackward(dy, arg!, xShape, opts)],
});
