// Per-channel bias (and optional ReLU) for inference with batch norm folded into the convs:
//   y[n, c, h, w] = x[n, c, h, w] + b[c]        (relu: max(·, 0))
// x, y: NCHW, f32 or packed f16 (y has x's dtype); b: f32 [C]. Eval only: no autograd rule (folding
// is for inference; training keeps the batch-norm layers). It lives in model/ because only the
// folded model uses it.
import { Tensor, expect, launch, grid1d, uniforms, withOp, type DType } from '../engine/index.ts';
import { WG, array, builtins, flatIndex } from '../kernels/wgsl.ts';

type Spec = { dtype: DType; relu: boolean };
const U = uniforms({ pairs: 'u32', total: 'u32', C: 'u32', HW: 'u32' });

const kernel = {
  key: (s: Spec) => `model.bias_add/${s.dtype}${s.relu ? '/relu' : ''}`,
  wgsl: (s: Spec) => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
${array(1, 'x', s.dtype, 'read')}
@group(0) @binding(2) var<storage, read> b: array<f32>;
${array(3, 'y', s.dtype, 'read_write')}
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
};

const e = expect('biasAdd');

/** x [N, C, H, W] + b [C] per channel, then ReLU if `relu`. No autograd. */
export function biasAdd(x: Tensor, b: Tensor, relu = false): Tensor {
  e.rank('x', x, 4);
  e.shape('b', b, [x.shape[1]], ['x', x]);
  e.dtype('b', b, 'f32');
  const [N, C, H, W] = x.shape;
  const total = N * C * H * W, pairs = Math.ceil(total / 2);
  const y = Tensor.empty(x.shape, x.dtype);
  withOp('biasAdd', () => launch(kernel, { dtype: x.dtype, relu }, { uniforms: U.pack({ pairs, total, C, HW: H * W }), read: [x, b], write: [y], grid: grid1d(pairs, WG) }));
  return y;
}
