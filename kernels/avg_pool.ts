// Average pool, NCHW, k×k window at stride s (default 3x3/2, the shortcut branch of ShuffleNetV1's
// stride-2 unit) with MindSpore's pad_mode='same'; geometry, thread mapping and the WGSL template are
// in pool2d.ts. Padding is excluded from the count (MindSpore AvgPool 'same'; PyTorch's
// count_include_pad=False): each window divides by its number of real pixels,
//   y[n, c, oh, ow] = Σ x[n, c, ih, iw] / cnt(oh, ow),  cnt = rows(oh) · cols(ow) inside the input.
// Backward is a gather (no atomics where windows overlap): dx[n, c, ih, iw] = Σ over the windows
// (at most ceil(k/s)²) that contain the pixel of dy[n, c, oh, ow] / cnt(oh, ow).
// Images are independent, so a batch over the storage binding limit runs in binding windows of whole
// images (windows.ts), each dispatch the pool of its images alone.
import { Tensor, defineOp, type Shape } from '../engine/index.ts';
import {
  type PoolOptions, type Reducer, type Plan, checkPool, poolGeometry, choosePoolPlan,
  forwardKernel, backwardKernel, uniformsOf, gridOf,
} from './pool2d.ts';
import { batchWindows, rowsOf } from './windows.ts';

const cnt = (oh: string, ow: string) => `(span(${oh}, u.H, u.pt) * span(${ow}, u.W, u.pl))`;
const avg: Reducer = {
  name: 'avg_pool',
  first: (i, v) => `acc[${i}] = ${v};`,
  take: (i, v) => `acc[${i}] += ${v};`,
  result: (i, oh, ow) => `acc[${i}] / ${cnt(oh, ow)}`,
  term: (dy, _a, _k, oh, ow) => `${dy} / ${cnt(oh, ow)}`,
  usesArg: false,
};
const forward = forwardKernel(avg);
const backward = backwardKernel(avg);

/** Raw forward (no autograd); `plan`: a thread plan instead of the tuned or default one (tests). */
export function avgPoolForward(x: Tensor, opts: PoolOptions = {}, plan?: Plan): Tensor {
  const g = poolGeometry(x.shape, opts), dtype = x.dtype;
  const shape = [g.N, g.C, g.Ho, g.Wo];
  const y = Tensor.empty(shape, dtype);
  const spec = (p: Plan) => ({ dtype, k: g.k, s: g.s, plan: p, arg: false });
  const run = (p: Plan, x: Tensor, y: Tensor) => {
    for (const w of batchWindows('avgPool2d', g.N, [x, y])) {
      const total = w.count * g.C * g.Ho * g.Wo;
      forward.run(spec(p), { uniforms: uniformsOf(g, total), buffers: { x: rowsOf(x, g.N, w), y: rowsOf(y, g.N, w) }, grid: gridOf(p, dtype, total) });
    }
  };
  run(plan ?? choosePoolPlan({
    kernel: 'avg_pool.forward', kind: 'forward', g, dtype, arg: false, wgsl: (p) => forward.wgsl(spec(p)),
    inputs: [x.shape], outputs: [shape], run: (p, [a, b]) => run(p, a!, b!),
  }), x, y);
  return y;
}

/** Raw backward: dx of x's shape from dy; `plan` as for forward. */
export function avgPoolBackward(dy: Tensor, xShape: Shape, opts: PoolOptions = {}, plan?: Plan): Tensor {
  const g = poolGeometry(xShape, opts), dtype = dy.dtype;
  const dx = Tensor.empty(xShape, dtype);
  const spec = (p: Plan) => ({ dtype, k: g.k, s: g.s, plan: p, arg: false });
  const run = (p: Plan, dy: Tensor, dx: Tensor) => {
    for (const w of batchWindows('avgPool2d.backward', g.N, [dy, dx])) {
      const total = w.count * g.C * g.H * g.W;
      backward.run(spec(p), { uniforms: uniformsOf(g, total), buffers: { dy: rowsOf(dy, g.N, w), dx: rowsOf(dx, g.N, w) }, grid: gridOf(p, dtype, total) });
    }
  };
  run(plan ?? choosePoolPlan({
    kernel: 'avg_pool.backward', kind: 'backward', g, dtype, arg: false, wgsl: (p) => backward.wgsl(spec(p)),
    inputs: [dy.shape], outputs: [xShape], run: (p, [a, b]) => run(p, a!, b!),
  }), dy, dx);
  return dx;
}

/** Average pool, default 3x3 stride 2, pad_mode 'same', padding excluded from the count. */
export const avgPool2d = defineOp('avgPool2d', {
  check: (e, x: Tensor, opts?: PoolOptions) => checkPool(e, x, opts),
  forward: (x: Tensor, opts: PoolOptions = {}) => ({ y: avgPoolForward(x, opts), saved: { xShape: x.shape, opts } }),
  backward: (dy, { xShape, opts }) => [avgPoolBackward(dy, xShape, opts)],
});
