// Comparing GPU results with float64 references: relative L2 error gates, and so does the worst element
// (one wrong element in n moves rel-L2 by only ~1/sqrt(n) of its size).
import * as assert from 'uvu/assert';

/** Default rel-L2 bounds; a test states any other bound with its reason. */
export const TOL = { f32: 1e-5, f16: 5e-3 } as const;

/**
 * Results computed in f32 and rounded once to the dtype: f16's rounding moves each value by at most
 * 2^-11 (4.9e-4) relative, so rel-L2 <= 2^-11; the bound leaves 2x for the f32 arithmetic before it.
 */
export const TOL_ROUND = { f32: TOL.f32, f16: 1e-3 } as const;

/**
 * Default worst-element bound, in units of the rel-L2 bound: |got - want| <= WORST · bound · max|want|.
 * Rounding errors of one element stay within a few RMS errors (rel-L2 measures the RMS against the RMS
 * of want, which max|want| exceeds); across the suite the largest seen is 0.91 · bound · max|want|
 * (augment's f32 bilinear weights: sample positions off by f32 rounding times the steepest pixel step).
 */
export const WORST = 4;

export interface CloseOptions {
  /** Bound on max|got - want| / max|want| (default WORST · bound). */
  worst?: number;
}

export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): { rel: number; worst: number; at: number; scale: number } {
  let d2 = 0, w2 = 0, worst = 0, at = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst)) { worst = d; at = i; } // NaN counts as worst
    d2 += d * d;
    w2 += want[i] * want[i];
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return { rel: Math.sqrt(d2 / Math.max(w2, Number.MIN_VALUE)), worst, at, scale };
}

export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, bound: number, what: string, o: CloseOptions = {}): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) assert.unreachable(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
  }
  const { rel, worst, at, scale } = relL2(got, want);
  const worstAt = `worst [${at}] got ${got[at]} want ${want[at]} (|d| ${worst.toExponential(2)})`;
  assert.ok(rel <= bound, `${what}: rel L2 ${rel.toExponential(2)} > ${bound}; ${worstAt}`);
  const limit = (o.worst ?? WORST * bound) * scale;
  assert.ok(worst <= limit, `${what}: ${worstAt} > ${limit.toExponential(2)} (${o.worst ?? `${WORST}·${bound}`} · max|want| ${scale.toExponential(2)}); rel L2 ${rel.toExponential(2)}`);
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

/** Assert that `fn` fails with a message matching `pattern` (uvu's throws() rethrows assertion failures). */
export function expectFailure(fn: () => unknown, pattern: RegExp, what: string): void {
  let message: string | null = null;
  try { fn(); } catch (e) { message = (e as Error).message; }
  assert.ok(message !== null, `${what}: expected a failure`);
  assert.match(message!, pattern, `${what}: failure message`);
}
