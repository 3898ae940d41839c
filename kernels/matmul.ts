// Matrix multiply, 2-D and batched, with optional transposed operands and a bias; and the linear layer.
//   C[b, m, n] = Σ_k opA(A)[b, m, k] · opB(B)[b, k, n] (+ bias[n])
// A is stored [B, M, K] (or [B, K, M] with transA), B is stored [B, K, N] (or [B, N, K] with transB),
// C is [B, M, N]; all row-major, contiguous. A transposed operand is only a swap of its strides
// (uniforms), so one pipeline serves all four combinations and neither gradient needs a copy:
//   dopA = dC · opB^T      dopB = opA^T · dC
// and with linear's PyTorch layout (x [N, in], w [out, in], y = x·w^T + b):
//   dx = dy · w            dw = dy^T · x            db = Σ_rows dy (reduce.ts's sumColumns)
// Register tiling: each invocation accumulates a TM x TN tile of C (TN/4 vec4f per row), loading TM
// values of A and TN of B per k. llvmpipe runs invocations as SIMD lanes and turns every storage load
// into a per-lane scalar loop (~4 cycles per lane), while FMAs are vectorised: FMAs per load,
// TM·TN / (TM + TN), set the speed, and even spilled accumulators are cheaper than loads. So the
// tile is the larger one (8x8) unless that leaves too few invocations (4x4; see pickTile). Rows and
// columns past the edge are clamped on load and skipped on store. Accumulation is f32; A, B and C
// each have their own dtype (linear: x f16, w f32 -> y f16; dw = dy^T·x is f32 from f16 operands).
// f16 C is stored a pair at a time: with N even every pair lies inside one invocation's row;
// with N odd pairs straddle rows, so C goes through an f32 scratch and a cast.
import { Tensor, defineOp, fmt, type DType, type Expect } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { range } from './wgsl.ts';
import { castForward } from './cast.ts';
import { sumColumns } from './reduce.ts';

export type Tile = { TM: number; TN: number };
const WGX = 8; // invocations along N
const WGY = 8;

type Spec = { a: DType; b: DType; c: DType; bias: boolean } & Tile;

const kernel = defineKernel({
  name: 'matmul',
  variant: (s: Spec) => `${s.a}x${s.b}->${s.c}${s.bias ? '/bias' : ''}/${s.TM}x${s.TN}`,
  // element strides of opA along m and k, of opB along k and n (transposition is only a stride swap),
  // and per batch of A, B and C
  uniforms: { M: 'u32', N: 'u32', K: 'u32', aM: 'u32', aK: 'u32', bK: 'u32', bN: 'u32', batchA: 'u32', batchB: 'u32', batchC: 'u32' },
  buffers: (s) => [input('a', s.a), input('b', s.b), ...(s.bias ? [input('bias', 'f32')] : []), output('c', s.c)],
  body: (s) => {
    const rows = range(s.TM), cols = range(s.TN), quads = range(s.TN / 4);
    const acc = (i: number, j: number) => `acc${i}_${j >> 2}[${j & 3}]`;
    // f16 C is stored a pair at a time (N even: a pair never leaves the row)
    const store = s.c === 'f32'
      ? rows.map((i) => `if (m0 + ${i}u < u.M) { let r = cBase + (m0 + ${i}u) * u.N + n0;${cols.map((j) => ` if (n0 + ${j}u < u.N) { st_c(r + ${j}u, ${acc(i, j)}); }`).join('')} }`)
      : rows.map((i) => `if (m0 + ${i}u < u.M) { let p = (cBase + (m0 + ${i}u) * u.N + n0) / 2u;${range(s.TN / 2).map((h) => ` if (n0 + ${2 * h}u < u.N) { st2_c(p + ${h}u, acc${i}_${h >> 1}.${h & 1 ? 'zw' : 'xy'}); }`).join('')} }`);
    return /* wgsl */ `
// one invocation per ${s.TM}x${s.TN} tile of C: x over column tiles, y over row tiles, z over the batch
@compute @workgroup_size(${WGX}, ${WGY})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n0 = gid.x * ${s.TN}u;
  let m0 = gid.y * ${s.TM}u;
  if (n0 >= u.N || m0 >= u.M) { return; }
  let cBase = gid.z * u.batchC;
  // rows and columns past the edge read the last one (and are not stored)
  ${rows.map((i) => `let ra${i} = gid.z * u.batchA + min(m0 + ${i}u, u.M - 1u) * u.aM;`).join('\n  ')}
  ${cols.map((j) => `let rb${j} = gid.z * u.batchB + min(n0 + ${j}u, u.N - 1u) * u.bN;`).join('\n  ')}
  ${rows.map((i) => quads.map((q) => `var acc${i}_${q} = vec4f(0.0);`).join(' ')).join('\n  ')}
  for (var k = 0u; k < u.K; k++) {
    let ka = k * u.aK;
    let kb = k * u.bK;
    ${quads.map((q) => `let b${q} = vec4f(${range(4).map((j) => `ld_b(rb${4 * q + j} + kb)`).join(', ')});`).join('\n    ')}
    ${rows.map((i) => `{ let av = ld_a(ra${i} + ka);${quads.map((q) => ` acc${i}_${q} += av * b${q};`).join('')} }`).join('\n    ')}
  }
  ${s.bias ? `${quads.map((q) => `let bias${q} = vec4f(${range(4).map((j) => `bias[min(n0 + ${4 * q + j}u, u.N - 1u)]`).join(', ')});`).join(' ')}
  ${rows.map((i) => quads.map((q) => `acc${i}_${q} += bias${q};`).join(' ')).join(' ')}` : ''}
  ${store.join('\n  ')}
}`;
  },
});

/** Register tiles, largest first (TN a multiple of 4). 16x16 runs ~1.35x faster than 8x8 at 512^3 but takes 4-6 s to compile. */
export const TILES: readonly Tile[] = [{ TM: 8, TN: 8 }, { TM: 4, TN: 4 }];
const MIN_INVOCATIONS = 256; // below this a larger tile leaves cores idle

/** The largest tile that still gives MIN_INVOCATIONS invocations (else the smallest). */
function pickTile(M: number, N: number, B: number): Tile {
  return TILES.find((t) => Math.ceil(M / t.TM) * Math.ceil(N / t.TN) * B >= MIN_INVOCATIONS) ?? TILES[TILES.length - 1];
}

/** Options of matmulForward: operands read transposed, an f32 bias over columns, C's dtype, a forced tile. */
export interface MatmulOptions { transA?: boolean; transB?: boolean; bias?: Tensor | null; dtype?: DType; tile?: Tile }

/**
 * C = opA(a) · opB(b) (+ bias), no autograd. a, b are [M, K] / [K, N] (rank 2) or [B, M, K] / [B, K, N]
 * (rank 3), stored transposed where transA / transB say; C is [M, N] or [B, M, N], of dtype
 * `opts.dtype` (default a's). Shapes are not checked here: the ops do that.
 */
export function matmulForward(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA, transB = !!opts.transB, dtype = opts.dtype ?? a.dtype;
  const batched = a.shape.length === 3;
  const B = batched ? a.shape[0] : 1;
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac, N = transB ? br : bc;
  const shape = batched ? [B, M, N] : [M, N];
  // f16 pairs straddle rows when N is odd: compute in f32, then round once
  const direct = dtype === 'f32' || N % 2 === 0;
  const c = Tensor.empty(shape, direct ? dtype : 'f32');
  if (M * N > 0) {
    const t = opts.tile ?? pickTile(M, N, B);
    kernel.run({ a: a.dtype, b: b.dtype, c: c.dtype, bias: !!opts.bias, ...t }, {
      uniforms: {
        M, N, K,
        aM: transA ? 1 : K, aK: transA ? M : 1, bK: transB ? 1 : N, bN: transB ? K : 1,
        batchA: M * K, batchB: K * N, batchC: M * N,
      },
      buffers: opts.bias ? { a, b, bias: opts.bias, c } : { a, b, c },
      grid: [Math.ceil(N / t.TN / WGX), Math.ceil(M / t.TM / WGY), B],
    });
  }
  if (direct) return c;
  const y = castForward(c, dtype);
  c.dispose();
  return y;
}

/** Options of the matmul op. */
export interface MatmulOpOptions { transA?: boolean; transB?: boolean }

function checkMatmul(e: Expect, a: Tensor, b: Tensor, opts: MatmulOpOptions = {}) {
  const both = `a is ${fmt(a.shape)}, b is ${fmt(b.shape)}`;
  const flags = [opts.transA && 'transA', opts.transB && 'transB'].filter(Boolean).join(', ');
  const ctx = flags ? `${both} (${flags})` : both;
  if (a.shape.length !== b.shape.length || (a.shape.length !== 2 && a.shape.length !== 3)) e.fail(`a and b must both be rank 2 or both rank 3: ${both}`);
  if (a.shape.length === 3 && a.shape[0] !== b.shape[0]) e.fail(`batch sizes differ: ${both}`);
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  if ((opts.transA ? ar : ac) !== (opts.transB ? bc : br)) e.fail(`inner dimensions differ: ${ctx}`);
  e.sameDtype('a', a, 'b', b);
}

/**
 * opA(a) · opB(b): [M, K] x [K, N] -> [M, N], or batched [B, M, K] x [B, K, N] -> [B, M, N]; transA /
 * transB read an operand stored transposed ([K, M] / [N, K]). a and b share a dtype, which C has.
 */
export const matmul = defineOp('matmul', {
  check: checkMatmul,
  forward: (a: Tensor, b: Tensor, opts: MatmulOpOptions = {}) => {
    const tA = !!opts.transA, tB = !!opts.transB;
    return { y: matmulForward(a, b, { transA: tA, transB: tB }), saved: { a, b, tA, tB } };
  },
  // dopA = dC·opB^T; stored transposed, dA = opB·dC^T. dopB = opA^T·dC; stored transposed, dB = dC^T·opA.
  backward: (dc, { a, b, tA, tB }, needs) => [
    needs[0] ? (tA ? matmulForward(b, dc, { transA: tB, transB: true }) : matmulForward(dc, b, { transB: !tB })) : null,
    needs[1] ? (tB ? matmulForward(dc, a, { transA: true, transB: tA }) : matmulForward(a, dc, { transA: !tA })) : null,
  ],
});

/** PyTorch's linear: x [N, in] · w[out, in]^T + b [out] -> [N, out] in x's dtype; w and b are f32. */
export const linear = defineOp('linear', {
  check: (e, x: Tensor, w: Tensor, b: Tensor | null) => {
    e.rank('x', x, 2);
    e.shape('w', w, [null, x.shape[1]], ['x', x]);
    if (b) e.shape('b', b, [w.shape[0]], ['w', w]);
    e.dtype('w', w, 'f32');
    if (b) e.dtype('b', b, 'f32');
  },
  forward: (x: Tensor, w: Tensor, b: Tensor | null) => ({ y: matmulForward(x, w, { transB: true, bias: b }), saved: { x, w } }),
  backward: (dy, { x, w }, needs) => [
    needs[0] ? matmulForward(dy, w, { dtype: x.dtype }) : null,
    needs[1] ? matmulForward(dy, x, { transA: true, dtype: 'f32' }) : null,
    ...(needs.length > 2 ? [needs[2] ? sumColumns(dy) : null] : []),
  ],
});
