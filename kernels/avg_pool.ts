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
  type PoolOptions, type Reducer, checkPool, poolGeometry, forwardPlan, backwardPlan,
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

/** Raw forward (no autograd). */
export function avgPoolForward(x: Tensor, opts: PoolOptions = {}): Tensor {
  const g = poolGeometry(x.shape, opts);
  const y = Tensor.empty([g.N, g.C, g.Ho, g.Wo], x.dtype);
  const plan = forwardPlan(g, x.dtype, false);
  for (const w of batchWindows('avgPool2d', g.N, [x, y])) {
    const total = w.count * g.C * g.Ho * g.Wo;
    forward.run({ dtype: x.dtype, k: g.k, s: g.s, plan, arg: false }, {
      uniforms: uniformsOf(g, total), buffers: { x: rowsOf(x, g.N, w), y: rowsOf(y, g.N, w) }, grid: gridOf(plan, x.dtype, total),
    });
  }
  return y;
}

/** Raw backward: dx of x's shape from dy. */
export function avgPoolBackward(dy: Tensor, xShape: Shape, opts: PoolOptions = {}): Tensor {
  const g = poolGeometry(xShape, opts);
  const dx = Tensor.empty(xShape, dy.dtype);
  const plan = backwardPlan(g, dy.dtype, false);
  for (const w of batchWindows('avgPool2d.backward', g.N, [dy, dx])) {
    const total = w.count * g.C * g.H * g.W;
    backward.run({ dtype: dy.dtype, k: g.k, s: g.s, plan, arg: false }, {
      uniforms: uniformsOf(g, total), buffers: { dy: rowsOf(dy, g.N, w), dx: rowsOf(dx, g.N, w) }, grid: gridOf(plan, dy.dtype, total),
    });
  }
  return dx;
}

/** Average pool, default 3x3 stride 2, pad_mode 'same', padding excluded from the count. */
export const avgPool2d = defineOp('avgPool2d', {
  check: (e, x: Tensor, opts?: PoolOptions) => checkPool(e, x, opts),
  forward: (x: Tensor, opts: PoolOptions = {}) => ({ y: avgPoolForward(x, opts), saved: { xShape: x.shape, opts } }),
  backward: (dy, { xShape, opts }) => [avgPoolBackward(dy, xShape, opts)],
});
