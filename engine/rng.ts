// Seeded PRNG (sfc32) with a serialisable state, so training resumes exactly and tests are repeatable.
export type RngState = [number, number, number, number];

export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  private spare: number | null = null;

  constructor(seed: number | RngState = 0) {
    if (Array.isArray(seed)) { [this.a, this.b, this.c, this.d] = seed; return; }
    // splitmix32 expands one seed into four well-mixed words
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number { return this.u32() / 4294967296; }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number { return lo + (hi - lo) * this.next(); }

  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }

  /** Standard normal (Box-Muller; the second value is kept for the next call). */
  normal(): number {
    if (this.spare !== null) { const s = this.spare; this.spare = null; return s; }
    let u = 0;
    while (u === 0) u = this.next();
    const r = Math.sqrt(-2 * Math.log(u)), th = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }

  /** Fill a new Float64Array with normals (scaled) or uniforms in [lo, hi). */
  normals(n: number, std = 1): Float64Array { const o = new Float64Array(n); for (let i = 0; i < n; i++) o[i] = this.normal() * std; return o; }
  uniforms(n: number, lo = -1, hi = 1): Float64Array { const o = new Float64Array(n); for (let i = 0; i < n; i++) o[i] = this.uniform(lo, hi); return o; }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: any }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) { const j = this.int(i + 1); const t = arr[i]; arr[i] = arr[j]; arr[j] = t; }
    return arr;
  }

  /** State to restore an identical stream later (the Box-Muller spare is dropped). */
  getState(): RngState { this.spare = null; return [this.a, this.b, this.c, this.d]; }
  setState(s: RngState): void { [this.a, this.b, this.c, this.d] = s; this.spare = null; }
}
