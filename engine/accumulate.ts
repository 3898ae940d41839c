// The engine's own kernel: y = a + b, for summing gradients that reach one tensor along several paths.
// f16 is handled as packed words (native f16 storage has the same bytes), so this needs no shader-f16.
import type { DType } from './dtype.ts';
import { launch, grid1d, type Kernel } from './launch.ts';
import { uniforms } from './uniforms.ts';
import { Tensor } from './tensor.ts';

const WG = 256;
const U = uniforms({ words: 'u32' });

const kernel: Kernel<{ dtype: DType }> = {
  key: (s) => `engine.accumulate/${s.dtype}`,
  wgsl: (s) => /* wgsl */ `
${U.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<${s.dtype === 'f32' ? 'f32' : 'u32'}>;
@group(0) @binding(2) var<storage, read> b: array<${s.dtype === 'f32' ? 'f32' : 'u32'}>;
@group(0) @binding(3) var<storage, read_write> y: array<${s.dtype === 'f32' ? 'f32' : 'u32'}>;
// one thread per 32-bit word (one f32 or two halves)
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= u.words) { return; }
  ${s.dtype === 'f32' ? 'y[i] = a[i] + b[i];' : 'y[i] = pack2x16float(unpack2x16float(a[i]) + unpack2x16float(b[i]));'}
}`,
};

/** a + b as a new tensor (no autograd). */
export function addRaw(a: Tensor, b: Tensor): Tensor {
  const y = Tensor.empty(a.shape, a.dtype);
  const words = a.byteLength / 4;
  launch(kernel, { dtype: a.dtype }, { uniforms: U.pack({ words }), read: [a, b], write: [y], grid: grid1d(words, WG) });
  return y;
}
