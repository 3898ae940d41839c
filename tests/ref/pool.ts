// float64 references for max_pool.ts, avg_pool.ts and global_avg_pool.ts, written as the definitions
// read: loop over every output window, scatter in backward. Padding follows MindSpore's 'same'
// (out = ceil(in / s), total pad max((out - 1)·s + k - in, 0), smaller half before), recomputed here
// rather than taken from the engine so the reference stays independent of the code under test.
export type Shape4 = readonly [number, number, number, number];

export function samePad(n: number, k: number, s: number): { out: number; before: number } {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return { out, before: Math.floor(total / 2) };
}

/** Visit every window: f(outIndex, list of flat input indices of its real pixels, row-major). */
function windows(shape: Shape4, k: number, s: number, f: (o: number, pixels: number[]) => void): Shape4 {
  const [N, C, H, W] = shape;
  const ph = samePad(H, k, s), pw = samePad(W, k, s);
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < ph.out; oh++) {
      for (let ow = 0; ow < pw.out; ow++) {
        const pixels: number[] = [];
        for (let kh = 0; kh < k; kh++) {
          for (let kw = 0; kw < k; kw++) {
            const ih = oh * s - ph.before + kh, iw = ow * s - pw.before + kw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) pixels.push((nc * H + ih) * W + iw);
          }
        }
        f(o++, pixels);
      }
    }
  }
  return [N, C, ph.out, pw.out];
}

export const poolOutShape = (shape: Shape4, k = 3, s = 2): Shape4 =>
  [shape[0], shape[1], samePad(shape[2], k, s).out, samePad(shape[3], k, s).out];

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Max pool: y and the flat input index of each window's first maximum. */
export function maxPoolRef(x: ArrayLike<number>, shape: Shape4, k = 3, s = 2): { y: Float64Array; arg: Int32Array } {
  const out = poolOutShape(shape, k, s);
  const y = new Float64Array(size(out)), arg = new Int32Array(size(out));
  windows(shape, k, s, (o, px) => {
    let best = px[0];
    for (const i of px) if (x[i] > x[best]) best = i; // strict: ties keep the first
    y[o] = x[best];
    arg[o] = best;
  });
  return { y, arg };
}

/** dx of max pool: each dy goes to its window's argmax, summed where windows overlap. */
export function maxPoolBackwardRef(x: ArrayLike<number>, shape: Shape4, dy: ArrayLike<number>, k = 3, s = 2): Float64Array {
  const { arg } = maxPoolRef(x, shape, k, s);
  const dx = new Float64Array(size(shape));
  arg.forEach((i, o) => { dx[i] += dy[o]; });
  return dx;
}

/** Average pool, padding excluded from the count. */
export function avgPoolRef(x: ArrayLike<number>, shape: Shape4, k = 3, s = 2): Float64Array {
  const y = new Float64Array(size(poolOutShape(shape, k, s)));
  windows(shape, k, s, (o, px) => { y[o] = px.reduce((a, i) => a + x[i], 0) / px.length; });
  return y;
}

export function avgPoolBackwardRef(dy: ArrayLike<number>, shape: Shape4, k = 3, s = 2): Float64Array {
  const dx = new Float64Array(size(shape));
  windows(shape, k, s, (o, px) => { for (const i of px) dx[i] += dy[o] / px.length; });
  return dx;
}

/** Global average pool [N, C, H, W] -> [N, C]. */
export function globalAvgPoolRef(x: ArrayLike<number>, shape: Shape4): Float64Array {
  const [N, C, H, W] = shape, HW = H * W;
  const y = new Float64Array(N * C);
  for (let i = 0; i < N * C; i++) { let acc = 0; for (let j = 0; j < HW; j++) acc += x[i * HW + j]; y[i] = acc / HW; }
  return y;
}

export function globalAvgPoolBackwardRef(dy: ArrayLike<number>, shape: Shape4): Float64Array {
  const [N, C, H, W] = shape, HW = H * W;
  return Float64Array.from({ length: N * C * HW }, (_, e) => dy[Math.floor(e / HW)] / HW);
}
