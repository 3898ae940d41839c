// Comparing GPU results with float64 references: relative L2 error gates, the worst element is reported.
import * as assert from 'uvu/assert';

/** Default rel-L2 bounds; a test states any other bound with its reason. */
export const TOL = { f32: 1e-5, f16: 5e-3 } as const;

export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): { rel: number; worst: number; at: number } {
  let d2 = 0, w2 = 0, worst = 0, at = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst)) { worst = d; at = i; } // NaN counts as worst
    d2 += d * d;
    w2 += want[i] * want[i];
  }
  return { rel: Math.sqrt(d2 / Math.max(w2, Number.MIN_VALUE)), worst, at };
}

export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, bound: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) assert.unreachable(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
  }
  const { rel, worst, at } = relL2(got, want);
  assert.ok(rel <= bound, `${what}: rel L2 ${rel.toExponential(2)} > ${bound}; worst [${at}] got ${got[at]} want ${want[at]} (|d| ${worst.toExponential(2)})`);
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

/** Assert that `fn` fails with a message matching `pattern` (uvu's throws() rethrows assertion failures). */
export function expectFailure(fn: () => unknown, pattern: RegExp, what: string): void {
  let message: string | null = null;
  try { fn(); } catch (e) { message = (e as Error).message; }
  assert.ok(message !== null, `${what}: expected a failure`);
  assert.match(message!, pattern, `${what}: failure message`);
}
