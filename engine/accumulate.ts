// The engine's own kernel: y = a + b, for summing gradients that reach one tensor along several paths.
// f16 is handled as packed words (native f16 storage has the same bytes), so this needs no shader-f16.
import type { DType } from './dtype.ts';
import { launch, grid1d, type Kernel } from './launch.ts';
import { uniforms } from './uniforms.ts';
import { Tensor } from './tensor.ts';

const WG = 256;
const U = uniforms({ count: 'u32' });

// Whole vec4s per thread where the word count allows: scalar storage loads cost nearly as much as
// vec4 ones on llvmpipe, so the scalar kernel ran at half the speed of the vec4 elementwise kernels.
const kernel: Kernel<{ dtype: DType; vec: boolean }> = {
  key: (s) => `engine.accumulate/${s.dtype}${s.vec ? '/v4' : ''}`,
  wgsl: (s) => {
    const T = s.dtype === 'f32' ? 'f32' : 'u32', E = s.vec ? `vec4<${T}>` : T;
    const half = (v: string) => `pack2x16float(unpack2x16float(a[i]${v}) + unpack2x16float(b[i]${v}))`;
    const sum = s.dtype === 'f32' ? 'a[i] + b[i]' : s.vec ? `vec4u(${['.x', '.y', '.z', '.w'].map(half).join(', ')})` : half('');
    return /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<${E}>;
@group(0) @binding(2) var<storage, read> b: array<${E}>;
@group(0) @binding(3) var<storage, read_write> y: array<${E}>;
// one thread per element of the arrays (a 32-bit word, one f32 or two halves, or four of them)
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= u.count) { return; }
  y[i] = ${sum};
}`;
  },
};

/** a + b as a new tensor (no autograd). */
export function addRaw(a: Tensor, b: Tensor): Tensor {
  const y = Tensor.empty(a.shape, a.dtype);
  const words = a.byteLength / 4, vec = words % 4 === 0;
  const count = vec ? words / 4 : words;
  launch(kernel, { dtype: a.dtype, vec }, { uniforms: U.pack({ count }), read: [a, b], write: [y], grid: grid1d(count, WG) });
  return y;
}
