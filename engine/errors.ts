// The one way an op rejects its arguments: synchronously, naming the op, the argument and the shapes.
import { fmt } from './shape.ts';

export class OpError extends Error {
  constructor(op: string, msg: string) {
    super(`${op}: ${msg}`);
    this.name = 'OpError';
  }
}

/** A GPU-side failure (validation, out of memory, device loss), named after the op that caused it. */
export class GpuError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'GpuError';
  }
}

interface Shaped { readonly shape: readonly number[]; readonly dtype: string }

export type Expect = ReturnType<typeof expect>;

export const expect = (op: string) => ({
  op,
  fail(msg: string): never {
    throw new OpError(op, msg);
  },
  rank(arg: string, t: Shaped, r: number) {
    if (t.shape.length !== r) throw new OpError(op, `${arg} must be rank ${r}, got ${fmt(t.shape)}`);
  },
  /** `want` uses null for "any size" in that dimension. */
  shape(arg: string, t: Shaped, want: readonly (number | null)[], ...others: [string, Shaped][]) {
    if (t.shape.length === want.length && want.every((d, i) => d === null || d === t.shape[i])) return;
    const ctx = others.map(([n, o]) => `, ${n} is ${fmt(o.shape)}`).join('');
    throw new OpError(op, `${arg} must be ${fmt(want.map((d) => d ?? '*'))}, got ${fmt(t.shape)}${ctx}`);
  },
  sameShape(a: string, ta: Shaped, b: string, tb: Shaped) {
    if (ta.shape.length === tb.shape.length && ta.shape.every((d, i) => d === tb.shape[i])) return;
    throw new OpError(op, `${a} and ${b} must have the same shape, got ${a} ${fmt(ta.shape)} and ${b} ${fmt(tb.shape)}`);
  },
  sameDtype(a: string, ta: Shaped, b: string, tb: Shaped) {
    if (ta.dtype !== tb.dtype) throw new OpError(op, `${a} and ${b} must have the same dtype, got ${ta.dtype} and ${tb.dtype}`);
  },
  dtype(arg: string, t: Shaped, ...allowed: string[]) {
    if (!allowed.includes(t.dtype)) throw new OpError(op, `${arg} must be ${allowed.join(' or ')}, got ${t.dtype}`);
  },
  divisible(what: string, n: number, by: string, d: number) {
    if (!(Number.isInteger(d) && d > 0 && n % d === 0)) throw new OpError(op, `${what}=${n} is not divisible by ${by}=${d}`);
  },
  positiveInt(what: string, n: number) {
    if (!(Number.isInteger(n) && n > 0)) throw new OpError(op, `${what} must be a positive integer, got ${n}`);
  },
});
