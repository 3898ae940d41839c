// The adapter's two ceilings, measured by the kernel benchmark in the same run:
//   FMA throughput: a register-only kernel, ACC independent vec4 FMA chains per invocation (on llvmpipe
//     three is best: fewer leave FMA latency exposed, more spill to the stack), loop unrolled UNROLL times;
//   copy bandwidth: y[i] = x[i] over a large array<vec4f>, one invocation per vec4 (no grid-stride loop),
//     counted as bytes read + bytes written.
import { Tensor, launch, grid1d, uniforms } from '../../engine/index.ts';
import { WG, builtins, flatIndex } from '../../kernels/wgsl.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export const ACC = 3;
const UNROLL = 4;
const FMA_WG = 64;

const FU = uniforms({ iters: 'u32', m: 'f32', c: 'f32' });
const fmaKernel = {
  key: (acc: number) => `bench.fma/${acc}x${UNROLL}`,
  wgsl: (acc: number) => /* wgsl */ `
${FU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
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
};

/** A runnable ceiling probe: run() records one dispatch; flop/bytes count one run. */
export interface Probe { run(): void; flop: number; bytes: number; dispose(): void }

/** FMA probe: `invocations` x `iters` loop trips, each ACC·UNROLL vec4 FMAs (8 FLOP per vec4 FMA). */
export function fmaProbe(invocations = 64 * 1024, iters = 1024, acc = ACC): Probe {
  const out = Tensor.empty([invocations], 'f32');
  const grid = grid1d(invocations, FMA_WG);
  return {
    run: () => launch(fmaKernel, acc, { uniforms: FU.pack({ iters, m: 0.9999, c: 1e-4 }), write: [out], grid }),
    flop: invocations * iters * UNROLL * acc * 4 * 2,
    bytes: invocations * 4,
    dispose: () => out.dispose(),
  };
}

const CU = uniforms({ vecs: 'u32' });
const copyKernel = {
  key: () => 'bench.copy/vec4f',
  wgsl: () => /* wgsl */ `
${CU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;
// one invocation per vec4
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.vecs) { return; }
  y[i] = x[i];
}`,
};

/** Copy probe over `bytes` bytes (a multiple of 16): reads and writes them once per run. */
export function copyProbe(bytes = 64 * 2 ** 20): Probe {
  const vecs = bytes / 16;
  const x = Tensor.zeros([vecs * 4], 'f32'), y = Tensor.empty([vecs * 4], 'f32');
  const grid = grid1d(vecs, WG);
  return {
    run: () => launch(copyKernel, null, { uniforms: CU.pack({ vecs }), read: [x], write: [y], grid }),
    flop: 0,
    bytes: 2 * bytes,
    dispose: () => { x.dispose(); y.dispose(); },
  };
}
