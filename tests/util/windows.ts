// Binding windows under test: the storage binding limit lowered (setBindingLimit) so small tensors take
// the windowed paths, and the windowed results compared with the same op's whole-tensor results.
import * as assert from 'uvu/assert';
import { Tensor, counters, setBindingLimit } from '../../engine/index.ts';
import { expectClose } from './check.ts';

/** fn with the storage binding limit lowered to `bytes`; the adapter's limit is restored after. */
export async function withBindingLimit<T>(bytes: number, fn: () => T | Promise<T>): Promise<T> {
  setBindingLimit(bytes);
  try { return await fn(); } finally { setBindingLimit(null); }
}

export interface WindowedCase {
  /** Runs the op once and returns the tensors to compare (read and disposed here). */
  run: () => Tensor[] | Promise<Tensor[]>;
  /** The lowered limit: below the largest tensor's size, above the smallest aligned window. */
  limit: number;
  /**
   * Bound on rel-L2 between windowed and whole results per output, in order; 0 (the default) demands
   * equal bits: a window only moves bindings, so only sums over the batch may be added up differently.
   */
  tol?: readonly number[];
}

/**
 * Runs c.run whole, then under c.limit, and checks that the windowed run dispatched more kernels (it
 * did window) and that its results match. Any binding over the lowered limit throws in launch(), so an
 * op that does not window fails here.
 */
export async function expectWindowedSame(what: string, c: WindowedCase): Promise<void> {
  // every output stays allocated until both runs are read: a windowed output that reused the whole
  // run's buffer would pass with elements its windows never wrote
  const outputs: Tensor[] = [];
  const read = (ts: Tensor[]) => { outputs.push(...ts); return Promise.all(ts.map((t) => t.read())); };
  const d0 = counters.dispatches;
  let whole: Float32Array[], windowed: Float32Array[], d1: number, d2: number;
  try {
    whole = await read(await c.run());
    d1 = counters.dispatches;
    windowed = await withBindingLimit(c.limit, async () => read(await c.run()));
    d2 = counters.dispatches;
  } finally { outputs.forEach((t) => t.dispose()); }
  assert.ok(d2 - d1 > d1 - d0, `${what}: windowed run dispatched ${d2 - d1} kernels, no more than the whole run's ${d1 - d0}: nothing was windowed under the ${c.limit}-byte limit`);
  whole.forEach((w, i) => {
    const tol = c.tol?.[i] ?? 0;
    if (tol === 0) assert.equal(Array.from(windowed[i]!), Array.from(w), `${what}: output ${i} windowed differs from whole`);
    else expectClose(windowed[i]!, w, tol, `${what}: output ${i} windowed vs whole`);
  });
}
