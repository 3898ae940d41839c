// Text formatting shared by the programs: the seed's time and result-line formats, and durations.

/** Elapsed seconds as the seed prints them: `0h 0m 21s`. */
export function hms(seconds: number): string {
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds / 60) % 60)}m ${Math.floor(seconds % 60)}s`;
}

/** A number as Python's repr() prints a float (the seed's result line is a Python dict). */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const a = Math.abs(v);
  // repr switches to exponent form below 1e-4 and from 1e16, with at least two exponent digits
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

/** A duration for progress lines: `12.5s`, `4m 10s`, `2h 5m 3s`, from two days on `51.9 days`. */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s >= 2 * 86400) return `${(s / 86400).toFixed(1)} days`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h ? `${h}h ${m}m ${sec}s` : m ? `${m}m ${sec}s` : `${s.toFixed(1)}s`;
}

/** A fraction as a percentage with two decimals, '-' when absent. */
export const percent = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${(100 * v).toFixed(2)}%`);
