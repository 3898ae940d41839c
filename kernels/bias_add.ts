// Per-channel bias (and optional ReLU), as in inference with batch norm folded into the convs
// (model/fold_bn.ts's stem):
//   y[n, c, h, w] = x[n, c, h, w] + b[c]        (relu: max(·, 0))
// x, y: NCHW, f32 or packed f16 (y has x's dtype); b: f32 [C]. f16 is computed in f32, rounded on store.
// Backward: dx = dy (relu: dy where y > 0), db[c] = Σ_{n,h,w} dx[n, c, h, w] in f32, summed by
// reduce.ts over h·w, then over n.
// A batch over the storage binding limit runs in binding windows of whole images (windows.ts), b bound
// whole; reduce.ts windows the sums of the backward.
import { Tensor, defineOp, grid1d, type DType } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';
import { reluBackward } from './elementwise.ts';
import { sumColumns, sumRows } from './reduce.ts';
import { batchWindows, rowsOf } from './windows.ts';

const kernel = defineKernel({
  name: 'bias_add',
  variant: (s: { dtype: DType; relu: boolean }) => `${s.dtype}${s.relu ? '/relu' : ''}`,
  uniforms: { pairs: 'u32', total: 'u32', C: 'u32', HW: 'u32' },
  buffers: (s) => [input('x', s.dtype), input('b', 'f32'), output('y', s.dtype)],
  body: (s) => /* wgsl */ `
fn at(i: u32) -> f32 {
  if (i >= u.total) { return 0.0; } // the lane past an odd end
  let v = ld_x(i) + b[(i / u.HW) % u.C];
  return ${s.relu ? 'max(v, 0.0)' : 'v'};
}
// one invocation per pair of elements (packed halves are stored a pair at a time)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  if (p >= u.pairs) { return; }
  st2_y(p, vec2f(at(2u * p), at(2u * p + 1u)));
}`,
});

/** x [N, C, H, W] (or [N, C]) + b [C] per channel, then ReLU if `relu`; no checks, no autograd. */
export function biasAddForward(x: Tensor, b: Tensor, relu = false): Tensor {
  const [N, C] = x.shape, HW = x.shape.slice(2).reduce((p, q) => p * q, 1);
  const y = Tensor.empty(x.shape, x.dtype);
  for (const w of batchWindows('biasAdd', N, [x, y])) {
    const total = w.count * C * HW, pairs = Math.ceil(total / 2);
    kernel.run({ dtype: x.dtype, relu }, {
      uniforms: { pairs, total, C, HW }, buffers: { x: rowsOf(x, N, w), b, y: rowsOf(y, N, w) }, grid: grid1d(pairs, WG),
    });
  }
  return y;
}

/** x [N, C, H, W] (f32 | f16) + b [C] (f32) per channel, then ReLU if `relu`; y has x's dtype. */
export const biasAdd = defineOp('biasAdd', {
  check: (e, x: Tensor, b: Tensor, _relu?: boolean) => {
    e.rank('x', x, 4);
    e.shape('b', b, [x.shape[1]], ['x', x]);
    e.dtype('b', b, 'f32');
  },
  forward: (x: Tensor, b: Tensor, relu?: boolean) => {
    const y = biasAddForward(x, b, !!relu);
    return { y, saved: { y: relu ? y : null, shape: x.shape } };
  },
  backward: (dy, { y, shape }, needs) => {
    const [N, C, H, W] = shape;
    const dx = y ? reluBackward(y, dy) : dy;
    let db: Tensor | null = null;
    if (needs[1]) {
      const planes = dx.reshapeView([N * C, H * W]);
      const perImage = sumRows(planes, [N, C]);
      db = sumColumns(perImage, [C]);
      planes.dispose();
      perImage.dispose();
    }
    if (!needs[0] && dx !== dy) dx.dispose();
    return [needs[0] ? dx : null, db];
  },
});
