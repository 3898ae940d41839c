// The kernel benchmark's correctness gate: a case's check runs its small instance once (cases.ts: the
// same launcher call, selecting the same kernel variants) and compares every output with its float64
// reference. Bounds are per output dtype, looser than the kernels' own tests (f32 1e-5, f16 5e-3 to
// 1e-2) since these sums are longer: f32 sums of a few thousand terms err ~1e-6 and a half store alone
// 2^-11, while a wrong index, tile or missing term errs by far more. Two measures must pass: the
// rel-L2 of the whole output, and the worst element against the largest |want|, so that a few wrong
// elements (an edge column, say) fail too.
import { scopeAsync, type DType } from '../../engine/index.ts';
import type { Case } from './cases.ts';

export const CHECK_BOUND: Record<DType, number> = { f32: 1e-4, f16: 1e-2 };

export class CheckError extends Error {
  override name = 'CheckError';
}

const num = (v: number) => v.toExponential(2);

/** What is wrong with `got` against `want` at `bound`, or null when both measures pass (NaN never does). */
export function mismatch(got: ArrayLike<number>, want: ArrayLike<number>, bound: number): string | null {
  if (got.length !== want.length) return `${got.length} elements, want ${want.length}`;
  let d2 = 0, w2 = 0, worst = 0, at = 0, peak = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= worst) && !Number.isNaN(worst)) { worst = d; at = i; } // the first NaN stays the worst
    d2 += d * d;
    w2 += want[i]! * want[i]!;
    peak = Math.max(peak, Math.abs(want[i]!));
  }
  const rel = Math.sqrt(d2 / Math.max(w2, Number.MIN_VALUE));
  if (rel <= bound && worst <= bound * peak) return null;
  return `rel L2 ${num(rel)}, worst [${at}] got ${got[at]} want ${want[at]} (|d| ${num(worst)} = ${num(worst / peak)}·max|want|); bound ${bound}`;
}

/** Run c's check once; a CheckError names what differs. `tamper` may change an output first (tests). */
export async function checkCase(c: Case, tamper?: (name: string, got: Float32Array) => void): Promise<void> {
  const b = c.check.setup();
  try {
    const got: { name: string; dtype: DType; values: Float32Array }[] = [];
    await scopeAsync(async () => {
      for (const [name, t] of Object.entries(b.run())) got.push({ name, dtype: t.dtype, values: await t.read() });
    });
    const want = b.want();
    const failures = [
      ...got.flatMap(({ name, dtype, values }) => {
        tamper?.(name, values);
        const m = name in want ? mismatch(values, want[name]!, CHECK_BOUND[dtype]) : 'no reference';
        return m ? [`${name} (${dtype}) ${m}`] : [];
      }),
      ...Object.keys(want).filter((name) => !got.some((o) => o.name === name)).map((name) => `${name}: not an output`),
    ];
    if (failures.length) {
      const more = failures.length > 3 ? `; and ${failures.length - 3} more` : '';
      throw new CheckError(`${c.kernel} ${c.direction} at ${c.check.shape} (timed at ${c.shape}): ${failures.slice(0, 3).join('; ')}${more}`);
    }
  } finally {
    b.dispose();
  }
}

/** Every case's check; one CheckError listing all that failed. `log` hears of each case. */
export async function checkAll(cases: readonly Case[], log: (line: string) => void = () => {}): Promise<void> {
  const failed: string[] = [];
  for (const c of cases) {
    try {
      await checkCase(c);
      log(`  ok: ${c.kernel} ${c.direction} ${c.check.shape}`);
    } catch (e) {
      if (!(e instanceof CheckError)) throw e;
      failed.push(e.message);
      log(`  FAILED: ${c.kernel} ${c.direction} ${c.check.shape}`);
    }
  }
  if (failed.length) throw new CheckError(`${failed.length} of ${cases.length} kernel checks failed:\n  ${failed.join('\n  ')}`);
}
