// The adapter's two ceilings, as kernels the benchmarks time (scripts/bench/ceilings.ts):
//   FMA throughput: a register-only kernel, ACC independent vec4 FMA chains per invocation (on llvmpipe
//     three is best: fewer leave FMA latency exposed, more spill to the stack), loop unrolled UNROLL times;
//   copy bandwidth: y[i] = x[i] over a large array<vec4f>, one invocation per vec4 (no grid-stride loop).
import { type Tensor, grid1d } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { WG, builtins, flatIndex, range } from './wgsl.ts';

export const ACC = 3;
export const UNROLL = 4;
const FMA_WG = 64;

const fma = defineKernel({
  name: 'ceiling.fma',
  variant: (acc: number) => `${acc}x${UNROLL}`,
  uniforms: { iters: 'u32', m: 'f32', c: 'f32' },
  buffers: () => [output('out', 'f32')],
  body: (acc) => /* wgsl */ `
// a = a·m + c converges to c / (1 - m): no overflow, no denormals; m and c are uniforms, so nothing folds
@compute @workgroup_size(${FMA_WG})
fn main(${builtins}) {
  let i = ${flatIndex(FMA_WG)};
  let s = f32(i) * 1e-6;
  let m = vec4f(u.m);
  let c = vec4f(u.c);
  ${range(acc).map((a) => `var a${a} = vec4f(s, s + 0.25, s + 0.5, s + 0.75) + ${a}.0;`).join('\n  ')}
  for (var k = 0u; k < u.iters; k++) {
    ${range(UNROLL).map(() => range(acc).map((a) => `a${a} = fma(a${a}, m, c);`).join(' ')).join('\n    ')}
  }
  out[i] = dot(${range(acc).map((a) => `a${a}`).join(' + ')}, vec4f(1.0));
}`,
});

/** `out.size` invocations x `iters` loop trips of ACC·UNROLL vec4 FMAs each. */
export const fmaCeilingForward = (out: Tensor, iters: number, acc = ACC): void =>
  fma.run(acc, { uniforms: { iters, m: 0.9999, c: 1e-4 }, buffers: { out }, grid: grid1d(out.size, FMA_WG) });

const copy = defineKernel({
  name: 'ceiling.copy',
  variant: () => 'vec4f',
  uniforms: { vecs: 'u32' },
  buffers: () => [input('x', 'f32', 4), output('y', 'f32', 4)],
  body: () => /* wgsl */ `
// one invocation per vec4
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.vecs) { return; }
  y[i] = x[i];
}`,
});

/** y = x, f32 tensors whose size is a multiple of 4. */
export const copyCeilingForward = (x: Tensor, y: Tensor): void =>
  copy.run(null, { uniforms: { vecs: x.size / 4 }, buffers: { x, y }, grid: grid1d(x.size / 4, WG) });
