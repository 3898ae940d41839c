// The adapter's two ceilings, measured by the kernel benchmark in the same run (kernels in
// kernels/ceiling_probes.ts): peak FMA throughput and copy bandwidth, counted as bytes read + written.
import { Tensor } from '../../engine/index.ts';
import { ACC, UNROLL, copyCeilingForward, fmaCeilingForward } from '../../kernels/ceiling_probes.ts';

export { ACC };

/** A runnable ceiling probe: run() records one dispatch; flop/bytes count one run. */
export interface Probe { run(): void; flop: number; bytes: number; dispose(): void }

/** FMA probe: `invocations` x `iters` loop trips, each ACC·UNROLL vec4 FMAs (8 FLOP per vec4 FMA). */
export function fmaProbe(invocations = 64 * 1024, iters = 1024, acc = ACC): Probe {
  const out = Tensor.empty([invocations], 'f32');
  return {
    run: () => fmaCeilingForward(out, iters, acc),
    flop: invocations * iters * UNROLL * acc * 4 * 2,
    bytes: invocations * 4,
    dispose: () => out.dispose(),
  };
}

/** Copy probe over `bytes` bytes (a multiple of 16): reads and writes them once per run. */
export function copyProbe(bytes = 64 * 2 ** 20): Probe {
  const x = Tensor.zeros([bytes / 4], 'f32'), y = Tensor.empty([bytes / 4], 'f32');
  return {
    run: () => copyCeilingForward(x, y),
    flop: 0,
    bytes: 2 * bytes,
    dispose: () => { x.dispose(); y.dispose(); },
  };
}
