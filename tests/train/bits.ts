// Comparing two runs' tensors bit for bit (exact resume, tuned vs default kernels).
import type { HostTensor } from '../../model/module.ts';

/** The first element whose bits differ between A and B (or a tensor missing from B), named; null when none. */
export function firstBitDifference(kind: string, A: Map<string, HostTensor>, B: Map<string, HostTensor>): string | null {
  for (const [name, t] of A) {
    const u = B.get(name);
    if (!u) return `${kind} ${name}: missing in the second`;
    const a = Float32Array.from(t.data), b = Float32Array.from(u.data);
    if (a.length !== b.length) return `${kind} ${name}: ${a.length} vs ${b.length} elements`;
    const ab = new Uint32Array(a.buffer), bb = new Uint32Array(b.buffer);
    for (let i = 0; i < ab.length; i++) {
      if (ab[i] !== bb[i]) return `${kind} ${name}[${i}]: ${a[i]} (0x${ab[i]!.toString(16)}) first vs ${b[i]} (0x${bb[i]!.toString(16)}) second`;
    }
  }
  return null;
}
