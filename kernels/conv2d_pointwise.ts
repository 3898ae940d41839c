// Pointwise (1x1) group convolution, NCHW, stride 1, no bias: ShuffleNetV1's 1x1 convs (~93% of its
// arithmetic). x [N, Cin, H, W], w [Cout, Cin/G, 1, 1] (PyTorch layout, f32), y [N, Cout, H, W]; with
// K = Cin/G, M = Cout/G and P = H·W, each (image n, group g) is a GEMM
//   Y[n, g] (M x P) = W[g] (M x K) · X[n, g] (K x P),   y[n, gM + m, p] = Σ_k w[gM + m, k] · x[n, gK + k, p]
// (PyTorch Conv2d(Cin, Cout, 1, groups=G, bias=False)). Backward:
//   dgrad: dX[n, g] = W[g]^T · dY[n, g], the same GEMM kernel on a transposed copy of w (w is small;
//   transpose.ts copies it);
//   wgrad: dW[g] = Σ_n dY[n, g] · X[n, g]^T, a reduction over N·P in two passes: partial sums per
//   (chunk of pixels, tile of dW) into [chunks, weights], then reduce.ts's sumColumns adds them. The
//   first pass takes the adapter's reduction shape (reduction_shape.ts): cpu, one invocation per
//   (chunk, tile), below; gpu, a workgroup per (chunk, tile) whose lanes read neighbouring pixels
//   (conv2d_pointwise_wgrad_gpu.ts). The shape sets the summation order; the tile never does.
// x, y, dy, dx are f32 or packed f16 (computed in f32); w and dw are f32; every sum is f32.
//
// Speed on llvmpipe (Mesa 22.3, the CPU target): every storage load is a loop over the 8 SIMD lanes with
// a bounds check per lane, ~40-50 cycles for a scalar and ~80-100 for a vec4, while an 8-wide FMA costs
// half a cycle; uniform addresses get no cheaper path, workgroup memory needs barriers, which turn the
// shader into a coroutine and cost more than they save. So the GEMM is load-bound, and the kernel
// minimises load instructions per FMA: pixels are flattened over (n, p), so tiny images (CIFAR's 4x4,
// 2x2, 1x1) still fill the lanes; an invocation owns TM output channels x TPV pixel vectors of PV
// pixels (vec4/vec2 loads along p when P allows: PV f32 or packed halves per load), and w rows are read
// as vec4 along the reduction when its length is a multiple of 4. Tile sizes are compile-time (spec).
// f16 outputs are stored as whole pairs: with odd P a pair can straddle two rows, so those GEMMs write an
// f32 staging tensor that a pack pass turns into halves.
// Batches over the storage binding limit run in windows of whole images (kernels/windows.ts): the GEMM
// and pack pass per window; wgrad's windows write their chunks' partial sums into one buffer, summed once.
import { Tensor, bindingLimit, defineOp, deviceInfo, grid1d, type Binding, type DType, type Shape } from '../engine/index.ts';
import { choose, scratchRuns, variantHash, type Choice } from './tuning.ts';
import { defineKernel, input, output, subgroupsEnabled } from './kernel.ts';
import { WG, builtins, flatIndex, range } from './wgsl.ts';
import { sumColumns } from './reduce.ts';
import { permuteForward } from './transpose.ts';
import { batchWindows, rowsOf, type Window } from './windows.ts';
import { tiledCandidates, tiledFits, tiledGemmKernel } from './conv2d_pointwise_tiled.ts';
import { wgradGpuCandidates, wgradGpuKernel, wgradGpuSharedBytes, wgradGpuTiles, type WgradGpuSpec, type WgradGpuTiles } from './conv2d_pointwise_wgrad_gpu.ts';
import { reductionShape, type ReductionShape } from './reduction_shape.ts';

/** Pixels per vector access: the widest of 4, 2, 1 that divides P, so a vector never straddles rows. */
export const pixelVector = (P: number): 1 | 2 | 4 => (P % 4 === 0 ? 4 : P % 2 === 0 ? 2 : 1);

// ---------------------------------------------------------------------------------------------------
// The grouped GEMM: y[n, yOff + gO + o, p] = Σ_r a[g, o, r] · x[n, gR + r, p], a [G, O, R] contiguous.
// forward: a = w (O = M, R = K); dgrad: a = wᵀ per group (O = K, R = M), x = dy, y = dx.

/** x/y dtypes, pixels per vector PV, TPV pixel vectors x TM output channels per invocation. */
/** `bias`: y += b[channel of y's group slice] before the store, then ReLU if `relu` (folded inference). */
export type GemmSpec = { x: DType; y: DType; PV: 1 | 2 | 4; TPV: number; TM: number; wv4: boolean; WGX: number; bias?: boolean; relu?: boolean };

const gemmKernel = defineKernel({
  name: 'conv2d_pointwise.gemm',
  variant: (s: GemmSpec) => `${s.x}>${s.y}/pv${s.PV}/${s.TM}x${s.TPV}/${s.wv4 ? 'w4' : 'w1'}/wg${s.WGX}${s.bias ? '/bias' : ''}${s.relu ? '/relu' : ''}`,
  uniforms: { Pv: 'u32', HWv: 'u32', R: 'u32', O: 'u32', Cx: 'u32', Cy: 'u32', yOff: 'u32', oTiles: 'u32' },
  // x and y are read and written PV pixels at a time (T_x: f32 or vecPVf); f16 y needs PV >= 2 (else staging)
  buffers: (s) => [input('x', s.x, s.PV), input('a', 'f32', s.wv4 ? 4 : 1), ...(s.bias ? [input('b', 'f32')] : []), output('y', s.y, s.PV)],
  body: (s) => {
    const P = range(s.TPV), M = range(s.TM);
    const acc = (i: number, j: number) => `acc${i}_${j}`;
    const biased = (v: string, i: number) => (s.bias ? `${v} + T_x(b[g * u.O + o0 + ${i}u])` : v);
    const epilogue = (v: string, i: number) => (s.relu ? `max(${biased(v, i)}, T_x(0.0))` : biased(v, i));
    const step = (r: string, wv: (i: number) => string) => `{
      ${P.map((j) => `let x${j} = ld_x(xb${j} + (${r}) * u.HWv);`).join(' ')}
      ${M.map((i) => P.map((j) => `${acc(i, j)} = fma(T_x(${wv(i)}), x${j}, ${acc(i, j)});`).join(' ')).join('\n      ')}
    }`;
    const loop = s.wv4 ? `
  for (var r = 0u; r < u.R; r += 4u) {
    ${M.map((i) => `let w${i} = a[(ar${i} + r) / 4u];`).join(' ')}
    ${range(4).map((kk) => step(`r + ${kk}u`, (i) => `w${i}[${kk}]`)).join('\n    ')}
  }` : `
  for (var r = 0u; r < u.R; r++) {
    ${step('r', (i) => `a[ar${i} + r]`)}
  }`;
    return /* wgsl */ `
// one invocation per (group, tile of TM output channels, TPV pixel vectors WGX apart); pixels are
// flattened over (n, p); out-of-range channels and pixels load clamped addresses and store nothing
@compute @workgroup_size(${s.WGX})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y / u.oTiles;
  let o0 = (wid.y % u.oTiles) * ${s.TM}u;
  ${P.map((j) => `let q${j} = (wid.x * ${s.TPV}u + ${j}u) * ${s.WGX}u + lid;
  let n${j} = min(q${j}, u.Pv - 1u) / u.HWv;
  let h${j} = min(q${j}, u.Pv - 1u) % u.HWv;
  let xb${j} = (n${j} * u.Cx + g * u.R) * u.HWv + h${j};`).join('\n  ')}
  ${M.map((i) => `let ar${i} = (g * u.O + min(o0 + ${i}u, u.O - 1u)) * u.R;`).join('\n  ')}
  ${M.map((i) => P.map((j) => `var ${acc(i, j)} = T_x(0.0);`).join(' ')).join('\n  ')}
  ${loop}
  ${P.map((j) => `if (q${j} < u.Pv) {
    let yb = (n${j} * u.Cy + u.yOff + g * u.O + o0) * u.HWv + h${j};
    ${M.map((i) => `if (o0 + ${i}u < u.O) { st_y(yb + ${i}u * u.HWv, ${epilogue(acc(i, j), i)}); }`).join('\n    ')}
  }`).join('\n  ')}
}`;
  },
});

/**
 * Tile choice (swept on llvmpipe over ShuffleNetV1 2.0x's shapes at batch 8): one SIMD vector per
 * workgroup (WGX = 8; 64-wide groups ran 2-3x slower) and 64 accumulators per invocation (spills are
 * cheaper than loads), TM = 16 channels x TPV = 4 pixel vectors where O allows, 128 with scalar pixels
 * (PV = 1: each x load feeds fewer products, so more of them pay). Up to 20 output channels per group
 * an invocation takes all of them (no padded rows: 1.2-2x faster than 4- or 8-channel tiles for
 * O = 6-20 at 0.5x width; at 24 and 40 the wider tiles lost), else 8 when O is small, with more pixel
 * vectors to keep the tile's size.
 */
export function gemmTiles(O: number, Pv: number, PV = 4): GemmTiles {
  const TM = O <= 20 ? O : O % 16 === 0 || O >= 32 ? 16 : 8;
  const want = Math.max(1, Math.floor((PV === 1 ? 128 : 64) / TM));
  // no more pixel vectors per invocation than there are per lane
  const TPV = Math.min(want, 2 ** Math.floor(Math.log2(Math.max(1, Pv / 8))));
  return { TM, TPV, WGX: 8 };
}

/** A GEMM problem as the kernel sees it (y: f32 where f16 output with odd P is staged): what tuning is keyed by. */
export interface GemmShape { x: DType; y: DType; N: number; G: number; R: number; O: number; P: number }

const TUNING_NAME = 'conv2d_pointwise.gemm';
const shapeKey = (g: GemmShape) => `${g.x}>${g.y} N${g.N} G${g.G} R${g.R} O${g.O} P${g.P}`;
const defaultSpec = (g: GemmShape, t: GemmTiles): GemmSpec => {
  const PV = pixelVector(g.P);
  return { x: g.x, y: g.y, PV, TPV: t.TPV, TM: t.TM, wv4: g.R % 4 === 0, WGX: t.WGX };
};
/** Hash of the kernel's WGSL for the shape's default tiles: a tuned entry from another kernel version is stale. */
const gemmSource = (g: GemmShape, t: GemmTiles) => variantHash(`${gemmKernel.name}/${JSON.stringify(defaultSpec(g, t))}`, () => gemmKernel.wgsl(defaultSpec(g, t)));
/**
 * Tiles the kernels accept from a cache: the register kernel's whole, within the accumulator budget
 * that bounds compile time; the shared-memory kernel's within its rules and this device's limits.
 */
const validTiles = (PV: number) => (c: Choice): boolean => {
  const keys = Object.keys(c).sort().join();
  if (keys === 'BK,TM,TPV,WGX,WGY') return tiledFits(c as GemmTiles & { WGY: number; BK: number }, PV);
  return keys === 'TM,TPV,WGX' && Number.isSafeInteger(c.TM) && Number.isSafeInteger(c.TPV) && c.TM! >= 1 && c.TPV! >= 1 &&
    c.TM! * c.TPV! <= 128 && [8, 16, 32, 64, 128, 256].includes(c.WGX!) && c.WGX! <= deviceInfo().limits.maxComputeInvocationsPerWorkgroup;
};

const defaultTiles = (g: GemmShape) => gemmTiles(g.O, (g.N * g.P) / pixelVector(g.P), pixelVector(g.P));

/**
 * The candidates the tuner times for a shape: the default first, then register tiles of 4-20 output
 * channels x 1-8 pixel vectors of at most 64 accumulators (compile time grows steeply past that), in
 * workgroups of 8 (one llvmpipe SIMD batch) or 64 (a GPU's SIMD group and more), then the
 * shared-memory kernel's tilings that fit this device (kernels/conv2d_pointwise_tiled.ts).
 */
export function gemmCandidates(g: GemmShape): GemmTiles[] {
  const PV = pixelVector(g.P), def = defaultTiles(g);
  const tms = [...new Set([def.TM, 4, 8, 16].filter((t) => t <= Math.max(def.TM, 4)))];
  const out = [def];
  for (const WGX of [8, 64]) for (const TM of tms) for (const TPV of [1, 2, 4, 8]) {
    if (TM * TPV <= 64 && !out.some((t) => t.TM === TM && t.TPV === TPV && t.WGX === WGX)) out.push({ TM, TPV, WGX });
  }
  return [...out, ...tiledCandidates(g.O, PV)];
}

/** The GEMM's tiles: a tuned choice for this shape on this adapter (kernels/tuning.ts), else gemmTiles(). */
export function chooseGemmTiles(g: GemmShape): GemmTiles {
  const def = defaultTiles(g);
  return choose<GemmTiles>({
    kernel: TUNING_NAME, shape: shapeKey(g), def,
    text: `pointwise GEMM ${g.x}>${g.y} [${g.N}, ${g.G}x${g.R} -> ${g.G}x${g.O}, ${g.P}]`,
    candidates: () => gemmCandidates(g),
    valid: validTiles(pixelVector(g.P)),
    source: () => gemmSource(g, def),
    open: scratchRuns([[[g.N, g.G * g.R, g.P], g.x], [[g.G * g.O, g.R], 'f32']], [[[g.N, g.G * g.O, g.P], g.y]],
      (tiles, [x, a, y]) => gemmBatch('conv2d_pointwise.tune', x!, a!, y!, { G: g.G, R: g.R, O: g.O, P: g.P, yOff: 0, tiles })),
  });
}

interface GemmArgs {
  /** x [N, Cx, P] and y [N, Cy, P] whole, the GEMM over images [first, first + count) (`w`) of both. */
  x: Tensor; a: Tensor; y: Tensor; w: Window;
  G: number; R: number; O: number; P: number;
  yOff: number; tiles: GemmTiles;
  /** Per output channel, added before the store (then ReLU if `relu`). */
  bias?: Tensor; relu?: boolean;
}

/** y[n, yOff + gO + o, p] = Σ_r a[g, o, r] x[n, gR + r, p] for the window's images (y f32 when x is f16 with odd P). */
function gemm({ x, a, y, w, G, R, O, P, yOff, tiles: t, bias, relu }: GemmArgs): void {
  const N = x.shape[0];
  const PV = pixelVector(P);
  const Pv = (w.count * P) / PV;
  const xw = rowsOf(x, N, w), yw = rowsOf(y, N, w);
  const buffers: Record<string, Binding> = bias ? { x: xw, a, b: bias, y: yw } : { x: xw, a, y: yw };
  const base = { x: x.dtype, y: y.dtype, PV, bias: !!bias, relu: !!relu };
  const uniforms = (oTiles: number) => ({ Pv, HWv: P / PV, R, O, Cx: x.shape[1], Cy: y.shape[1], yOff, oTiles });
  if (t.WGY !== undefined && t.BK !== undefined) {
    const oTiles = Math.ceil(O / (t.WGY * t.TM));
    tiledGemmKernel.run({ ...base, TM: t.TM, TPV: t.TPV, WGX: t.WGX, WGY: t.WGY, BK: t.BK }, {
      uniforms: uniforms(oTiles), buffers, grid: [Math.ceil(Pv / (t.TPV * t.WGX)), oTiles * G, 1],
    });
    return;
  }
  const oTiles = Math.ceil(O / t.TM);
  gemmKernel.run({ ...base, TPV: t.TPV, TM: t.TM, wv4: R % 4 === 0, WGX: t.WGX }, {
    uniforms: uniforms(oTiles), buffers, grid: [Math.ceil(Pv / (t.TPV * t.WGX)), oTiles * G, 1],
  });
}

/**
 * The GEMM into y [N, Cy, P] over windows of the batch: directly, or for f16 y with odd P into an f32
 * staging tensor that the pack pass turns into halves, window by window. Tiles are chosen for the
 * whole batch, so every window runs one pipeline (a tile only decides which invocation computes a sum).
 */
function gemmBatch(op: string, x: Tensor, a: Tensor, y: Tensor, g: Omit<GemmArgs, 'x' | 'a' | 'y' | 'w' | 'tiles'> & { tiles?: GemmTiles }): void {
  const N = x.shape[0], PV = pixelVector(g.P);
  const staged = y.dtype === 'f16' && PV === 1;
  const tiles = g.tiles ?? chooseGemmTiles({ x: x.dtype, y: staged ? 'f32' : y.dtype, N, G: g.G, R: g.R, O: g.O, P: g.P });
  const s = staged ? Tensor.empty([N, g.G * g.O, g.P], 'f32') : null;
  for (const w of batchWindows(op, N, s ? [x, s, y] : [x, y])) {
    if (!s) { gemm({ ...g, x, a, y, w, tiles }); continue; }
    gemm({ ...g, x, a, y: s, w, tiles, yOff: 0 });
    packHalves(s, y, w, g.yOff);
  }
  s?.dispose();
}

// ---------------------------------------------------------------------------------------------------
// f32 staging -> f16 slice: y[n, off + c, p] = half(s[n, c, p]), whole words, keeping the halves of
// neighbouring channels outside the slice (read back and rewritten).

const packKernel = defineKernel({
  name: 'conv2d_pointwise.pack',
  variant: () => 'f32>f16',
  uniforms: { words: 'u32', wordsPer: 'u32', S: 'u32', HW: 'u32', Ctot: 'u32', off: 'u32' },
  // y a word (pair of halves) at a time: the pair is read back where one half lies outside the slice
  buffers: () => [input('s', 'f32'), output('y', 'f16', 2)],
  body: () => /* wgsl */ `
// one invocation per word of y that the slice of image n touches
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  if (t >= u.words) { return; }
  let n = t / u.wordsPer;
  let e0 = (n * u.Ctot + u.off) * u.HW;
  let e1 = e0 + u.S;
  let wd = e0 / 2u + t % u.wordsPer;
  if (2u * wd >= e1) { return; }
  var v = vec2f(0.0);
  if (2u * wd < e0 || 2u * wd + 1u >= e1) { v = ld_y(wd); }
  if (2u * wd >= e0) { v.x = s[n * u.S + 2u * wd - e0]; }
  if (2u * wd + 1u < e1) { v.y = s[n * u.S + 2u * wd + 1u - e0]; }
  st_y(wd, v);
}`,
});

/**
 * Pack staging s [N, C, P] (f32) into channels [off, off + C) of y [N, Ctot, P] (f16), images
 * [first, first + count) (`w`). A window of y starts on the offset alignment, so on a whole word.
 */
function packHalves(s: Tensor, y: Tensor, w: Window, off: number): void {
  const [N, C] = s.shape, Ctot = y.shape[1], P = s.size / (N * C);
  // a slice covering whole images is one contiguous range (two images' slices may share a word)
  const whole = C === Ctot;
  const imgs = whole ? 1 : w.count, S = whole ? w.count * C * P : C * P;
  const wordsPer = Math.floor(S / 2) + 1;
  const words = imgs * wordsPer;
  packKernel.run(null, {
    uniforms: { words, wordsPer, S, HW: whole ? 1 : P, Ctot: whole ? 0 : Ctot, off: whole ? 0 : off },
    buffers: { s: rowsOf(s, N, w), y: rowsOf(y, N, w) }, grid: grid1d(words, WG),
  });
}

// ---------------------------------------------------------------------------------------------------

/** wᵀ per group, for dgrad: t[g, k, m] = w[gM + m, k] ([G, K, M], f32). */
function transposeGroups(w: Tensor, G: number): Tensor {
  const wg = w.reshapeView([G, w.shape[0] / G, w.shape[1]]);
  const t = permuteForward(wg, [0, 2, 1]);
  wg.dispose();
  return t;
}

// ---------------------------------------------------------------------------------------------------
// wgrad, pass 1: part[c, gM + m, k] = Σ_{pixels v of chunk c} dy[n, gM + m, v] · x[n, gK + k, v]
// pass 2: dw[i] = Σ_c part[c, i].

export type WgradSpec = { dtype: DType; PV: 1 | 2 | 4; TM: number; TK: number; WGX: number };

const wgradKernel = defineKernel({
  name: 'conv2d_pointwise.wgrad',
  variant: (s: WgradSpec) => `${s.dtype}/pv${s.PV}/${s.TM}x${s.TK}/wg${s.WGX}`,
  // c0: the window's first chunk (row of part); chunks and Pv count the window's own
  uniforms: { Pv: 'u32', HWv: 'u32', M: 'u32', K: 'u32', Cx: 'u32', Cy: 'u32', L: 'u32', tiles: 'u32', chunks: 'u32', c0: 'u32', mTiles: 'u32', kTiles: 'u32', S: 'u32' },
  buffers: (s) => [input('x', s.dtype, s.PV), input('dy', s.dtype, s.PV), output('part', 'f32')],
  body: (s: WgradSpec) => {
    const Ms = range(s.TM), Ks = range(s.TK);
    const acc = (i: number, j: number) => `acc${i}_${j}`;
    const mac = (i: number, j: number) => (s.PV === 1 ? `fma(d${i}, x${j}, ${acc(i, j)})` : `${acc(i, j)} + dot(d${i}, x${j})`);
    return /* wgsl */ `
// one invocation per (TM x TK tile of dw over all groups, chunk of L pixel vectors), tiles fastest:
// the lanes of a workgroup take neighbouring tiles (of the next chunk too when there are fewer tiles
// than lanes), so every lane has work; the chunk walks pixels flattened over (n, p), stepping into
// the next image when p wraps
@compute @workgroup_size(${s.WGX})
fn main(${builtins}) {
  let t = ${flatIndex(s.WGX)};
  let c = min(t / u.tiles, u.chunks - 1u);
  let tc = t % u.tiles;
  let g = tc / (u.mTiles * u.kTiles);
  let m0 = ((tc / u.kTiles) % u.mTiles) * ${s.TM}u;
  let k0 = (tc % u.kTiles) * ${s.TK}u;
  let v0 = min(c * u.L, u.Pv);
  let v1 = min(v0 + u.L, u.Pv);
  var n = v0 / u.HWv;
  var h = v0 % u.HWv;
  ${Ms.map((i) => `let dm${i} = (g * u.M + min(m0 + ${i}u, u.M - 1u)) * u.HWv;`).join(' ')}
  ${Ks.map((j) => `let xk${j} = (g * u.K + min(k0 + ${j}u, u.K - 1u)) * u.HWv;`).join(' ')}
  ${Ms.map((i) => Ks.map((j) => `var ${acc(i, j)} = 0.0;`).join(' ')).join('\n  ')}
  for (var v = v0; v < v1; v++) {
    let dyo = n * u.Cy * u.HWv + h;
    let xo = n * u.Cx * u.HWv + h;
    ${Ms.map((i) => `let d${i} = ld_dy(dyo + dm${i});`).join(' ')}
    ${Ks.map((j) => `let x${j} = ld_x(xo + xk${j});`).join(' ')}
    ${Ms.map((i) => Ks.map((j) => `${acc(i, j)} = ${mac(i, j)};`).join(' ')).join('\n    ')}
    h += 1u;
    let wrap = h == u.HWv;
    h = select(h, 0u, wrap);
    n += select(0u, 1u, wrap);
  }
  if (t < u.tiles * u.chunks) {
    // row and column guards computed once each and combined with & (no branch per store): for a 20x25
    // tile this cut pipeline creation from 2.2 to 0.8 s on llvmpipe and from 5.9 to 3.4 s on SwiftShader
    let pb = (u.c0 + c) * u.S + (g * u.M + m0) * u.K + k0;
    ${Ms.map((i) => `let om${i} = m0 + ${i}u < u.M;`).join(' ')}
    ${Ks.map((j) => `let ok${j} = k0 + ${j}u < u.K;`).join(' ')}
    ${Ms.map((i) => Ks.map((j) => `if (om${i} & ok${j}) { part[pb + ${i}u * u.K + ${j}u] = ${acc(i, j)}; }`).join('\n    ')).join('\n    ')}
  }
}`;
  },
});

/**
 * dW tile TM x TK: each pixel vector costs TM + TK loads for TM·TK products, so the tile is the pair
 * with the fewest loads per useful product (rows padded past M or K count as waste), within an
 * accumulator budget set by LLVM's compile time, which grows steeply with it (cold, llvmpipe: 8x8
 * 0.4 s, 16x16 1.5 s, 16x32 5 s, 32x32 28 s): 512 with scalar pixels (odd planes, where each load
 * feeds fewest products: 16x32 ran 1.5-2x faster than 16x8 at 7x7), 256 with vector pixels.
 */
export function wgradTiles(M: number, K: number, PV: number): { TM: number; TK: number } {
  const cap = PV === 1 ? 512 : 256;
  // powers of two and the divisors of n up to 48 (whole groups of 10, 20, 40 channels at 0.5x width)
  const sides = (n: number) => [...new Set([32, 16, 8, 4, 2, 1, ...range(48).map((i) => i + 1).filter((d) => n % d === 0)])].filter((t) => t <= n).sort((p, q) => q - p);
  let best = { TM: 1, TK: 1 }, bestCost = Infinity;
  for (const TM of sides(M)) {
    for (const TK of sides(K)) {
      if (TM * TK > cap) continue;
      const waste = (Math.ceil(M / TM) * TM * Math.ceil(K / TK) * TK) / (M * K);
      const cost = ((TM + TK) / (TM * TK)) * waste;
      if (cost < bestCost * 0.97) { best = { TM, TK }; bestCost = cost; }
    }
  }
  return best;
}

/**
 * Partial-sum floats allowed for wgrad's first pass: its scratch memory is at most 64 MiB, and within
 * the binding limit, as the part buffer is bound whole (WebGPU's smallest limit is 128 MiB: only a
 * limit lowered for tests is below it).
 */
const partFloats = () => Math.min(16 * 2 ** 20, Math.floor(bindingLimit() / 4));

/** Chunking of the N·P reduction: chunks of L pixel vectors, enough invocations, bounded scratch. */
export function wgradChunks(Pv: number, tiles: number, S: number): { chunks: number; L: number } {
  const want = Math.max(Math.ceil(Pv / 256), Math.ceil(512 / tiles));
  return evenChunks(Pv, Math.max(1, Math.min(want, Math.ceil(Pv / 16), Math.floor(partFloats() / S))));
}

/** Pv pixel vectors in about `chunks` chunks of L each (the last may be shorter; none is empty). */
function evenChunks(Pv: number, chunks: number): { chunks: number; L: number } {
  const L = Math.ceil(Pv / chunks);
  return { chunks: Math.ceil(Pv / L), L };
}

/** The GPU shape's chunking: about shape.groups workgroups in all, each lane taking 4 pixel vectors or more, bounded scratch. */
export function wgradGpuChunks(Pv: number, tiles: number, S: number, shape: ReductionShape): { chunks: number; L: number } {
  return evenChunks(Pv, Math.max(1, Math.min(Math.ceil(shape.groups / tiles), Math.ceil(Pv / (4 * shape.width)), Math.floor(partFloats() / S))));
}

// ---------------------------------------------------------------------------------------------------
// Launchers (no checks, no tape): for conv2d's dispatcher, backward rules and benchmarks.

/** Register tiles (kernel above), or with WGY and BK the shared-memory kernel's (conv2d_pointwise_tiled.ts). */
export type GemmTiles = { TM: number; TPV: number; WGX: number; WGY?: number; BK?: number };

export interface PointwiseOptions {
  /** Write y into channels [channelOffset, channelOffset + Cout) of this [N, Ctot, H, W] tensor. */
  out?: Tensor;
  channelOffset?: number;
  /** Override the tile choice (benchmarks, tests). */
  tiles?: GemmTiles;
  /** Inference with batch norm folded in: y += bias[c] (f32 [Cout]) in the GEMM's epilogue, then ReLU if `relu`. */
  bias?: Tensor;
  relu?: boolean;
}

/**
 * y = conv1x1(x, w, groups G): x [N, Cin, H, W] (f32 | f16), w [Cout, Cin/G, 1, 1] f32 -> y [N, Cout, H, W]
 * in x's dtype. With `out`, y is written into a channel slice of `out` (same N, H, W and dtype, not
 * checked here), which is returned (the caller's handle; no new reference).
 */
export function pointwiseForward(x: Tensor, w: Tensor, G: number, opts: PointwiseOptions = {}): Tensor {
  const [N, Cin, H, W] = x.shape;
  const Cout = w.shape[0], P = H * W;
  const y = opts.out ?? Tensor.empty([N, Cout, H, W], x.dtype);
  const { tiles, bias, relu } = opts;
  gemmBatch('conv2d_pointwise.forward', x, w, y, { G, R: Cin / G, O: Cout / G, P, yOff: opts.channelOffset ?? 0, tiles, bias, relu });
  return y;
}

/** dx = conv1x1 dgrad: dX[n, g] = W[g]ᵀ · dY[n, g]; dy [N, Cout, H, W] -> dx of xShape in dy's dtype. */
export function pointwiseDgrad(dy: Tensor, w: Tensor, G: number, xShape: Shape, tiles?: GemmTiles): Tensor {
  const [N, Cin, H, W] = xShape;
  const Cout = w.shape[0], P = H * W, K = Cin / G, M = Cout / G;
  const wt = transposeGroups(w, G);
  const dx = Tensor.empty([N, Cin, H, W], dy.dtype);
  gemmBatch('conv2d_pointwise.dgrad', dy, wt, dx, { G, R: M, O: K, P, yOff: 0, tiles });
  wt.dispose();
  return dx;
}

/**
 * Chunk length (pixel vectors) when the batch runs in `windows` of HWv pixel vectors per image: a chunk
 * never spans two windows, so each window has its own chunks, and L grows where needed to keep all the
 * windows' chunks within the scratch bound. One window: wgradChunks' L, unchanged.
 */
function windowedChunkLength(windows: readonly Window[], HWv: number, L: number, S: number): number {
  if (windows.length === 1) return L;
  const perWindow = Math.max(1, Math.floor(Math.floor(partFloats() / S) / windows.length));
  return Math.max(L, Math.ceil((windows[0]!.count * HWv) / perWindow)); // the first window is the largest
}

export type WgradTiles = { TM: number; TK: number; WGX: number };
/** A wgrad problem as tuning keys it. */
export interface WgradShape { x: DType; N: number; G: number; M: number; K: number; P: number }

const WGRAD_NAME = 'conv2d_pointwise.wgrad';
const wgradDefault = (w: WgradShape): WgradTiles => ({ ...wgradTiles(w.M, w.K, pixelVector(w.P)), WGX: 8 });

/**
 * wgrad candidates: the default, then dW tiles of 4-16 x 4-16 (at most 128 accumulators, for compile
 * time) within M and K, in workgroups of 8 or 64. The chunking of the N·P reduction is the default's
 * whatever the tile (pointwiseWgrad), so every candidate adds the same terms in the same order.
 */
export function wgradCandidates(w: WgradShape): WgradTiles[] {
  const out = [wgradDefault(w)];
  const sides = (n: number) => [4, 8, 16].filter((t, i) => i === 0 || t <= n);
  for (const WGX of [8, 64]) for (const TM of sides(w.M)) for (const TK of sides(w.K)) {
    if (TM * TK <= 128 && !out.some((t) => t.TM === TM && t.TK === TK && t.WGX === WGX)) out.push({ TM, TK, WGX });
  }
  return out;
}

const wgradSpec = (w: WgradShape, t: WgradTiles): WgradSpec => ({ dtype: w.x, PV: pixelVector(w.P), TM: t.TM, TK: t.TK, WGX: t.WGX });
const validWgrad = (c: Choice): boolean => Object.keys(c).sort().join() === 'TK,TM,WGX' && [c.TM, c.TK].every((v) => Number.isSafeInteger(v) && v! >= 1) &&
  c.TM! * c.TK! <= 512 && [8, 16, 32, 64, 128, 256].includes(c.WGX!) && c.WGX! <= deviceInfo().limits.maxComputeInvocationsPerWorkgroup;

/** The tuner's runs of a wgrad problem (either reduction shape's tiles) on zeroed x and dy. */
const wgradScratch = <C extends WgradTiles | WgradGpuTiles>(w: WgradShape) =>
  scratchRuns<C>([[[w.N, w.G * w.K, 1, w.P], w.x], [[w.N, w.G * w.M, 1, w.P], w.x]], [], (tiles, [x, dy]) => pointwiseWgrad(x!, dy!, w.G, tiles).dispose());

/** wgrad's tiles: a tuned choice for this shape on this adapter (kernels/tuning.ts), else wgradTiles() in workgroups of 8. */
export function chooseWgradTiles(w: WgradShape): WgradTiles {
  const def = wgradDefault(w);
  return choose<WgradTiles>({
    kernel: WGRAD_NAME, shape: `${w.x} N${w.N} G${w.G} M${w.M} K${w.K} P${w.P}`, def,
    text: `pointwise wgrad ${w.x} [${w.N}, ${w.G}x${w.M} x ${w.G}x${w.K}, ${w.P}]`,
    candidates: () => wgradCandidates(w),
    valid: validWgrad,
    source: () => variantHash(`${wgradKernel.name}/${JSON.stringify(wgradSpec(w, def))}`, () => wgradKernel.wgsl(wgradSpec(w, def))),
    open: wgradScratch(w),
  });
}

/** The first pass for a problem in one reduction shape: its dW tile, chunk length and dispatch. */
interface WgradPass {
  TM: number; TK: number;
  /** Pixel vectors per chunk, from the shape's default tile (so the tile does not change the result). */
  L: number;
  /** Dispatch over `chunks` chunks of a window with these uniforms and bindings. */
  run: (uniforms: Record<string, number>, buffers: Record<string, Binding>, dwTiles: number, chunks: number) => void;
}

const dwTileCount = (w: WgradShape, TM: number, TK: number) => w.G * Math.ceil(w.M / TM) * Math.ceil(w.K / TK);

function cpuWgradPass(w: WgradShape, tiles?: WgradTiles | { TM: number; TK: number } | WgradGpuTiles): WgradPass {
  if (tiles && 'TQ' in tiles) throw new Error(`pointwiseWgrad: tiles ${JSON.stringify(tiles)} are the gpu reduction shape's; this run takes the cpu shape's { TM, TK, WGX? }`);
  const def = wgradDefault(w), PV = pixelVector(w.P);
  const { TM, TK, WGX } = tiles ? { WGX: 8, ...tiles } : chooseWgradTiles(w);
  const L = wgradChunks((w.N * w.P) / PV, dwTileCount(w, def.TM, def.TK), w.G * w.M * w.K).L;
  return {
    TM, TK, L,
    run: (uniforms, buffers, dwTiles, chunks) => wgradKernel.run({ dtype: w.x, PV, TM, TK, WGX }, { uniforms, buffers, grid: grid1d(dwTiles * chunks, WGX) }),
  };
}

const gpuSpec = (w: WgradShape, t: WgradGpuTiles, shape: ReductionShape): WgradGpuSpec =>
  ({ dtype: w.x, PV: pixelVector(w.P), TM: t.TM, TQ: t.TQ, WG: shape.width, sg: subgroupsEnabled() });
const validGpuWgrad = (shape: ReductionShape) => (c: Choice): boolean => Object.keys(c).sort().join() === 'TM,TQ' &&
  [c.TM, c.TQ].every((v) => Number.isSafeInteger(v) && v! >= 1) && c.TM! * c.TQ! <= 16 && c.TQ! <= 4 &&
  wgradGpuSharedBytes({ TM: c.TM!, TQ: c.TQ!, WG: shape.width, sg: subgroupsEnabled() }) <= deviceInfo().limits.maxComputeWorkgroupStorageSize;

/** The GPU-shaped kernel's tile: a tuned choice for this shape on this adapter, else wgradGpuTiles(). */
export function chooseWgradGpuTiles(w: WgradShape, shape: ReductionShape = reductionShape()): WgradGpuTiles {
  const def = wgradGpuTiles(w.M, w.K), sg = subgroupsEnabled();
  return choose<WgradGpuTiles>({
    kernel: wgradGpuKernel.name, shape: `${w.x} N${w.N} G${w.G} M${w.M} K${w.K} P${w.P} wg${shape.width}${sg ? ' sg' : ''}`, def,
    text: `pointwise wgrad (gpu shape${sg ? ', subgroups' : ''}) ${w.x} [${w.N}, ${w.G}x${w.M} x ${w.G}x${w.K}, ${w.P}]`,
    candidates: () => wgradGpuCandidates(w.M, w.K).filter((t) => validGpuWgrad(shape)(t)),
    valid: validGpuWgrad(shape),
    source: () => variantHash(`${wgradGpuKernel.name}/${JSON.stringify(gpuSpec(w, def, shape))}`, () => wgradGpuKernel.wgsl(gpuSpec(w, def, shape))),
    open: wgradScratch(w),
  });
}

function gpuWgradPass(w: WgradShape, shape: ReductionShape, tiles?: WgradTiles | { TM: number; TK: number } | WgradGpuTiles): WgradPass {
  if (tiles && !('TQ' in tiles)) throw new Error(`pointwiseWgrad: tiles ${JSON.stringify(tiles)} are the cpu reduction shape's; this run takes the gpu shape's { TM, TQ }`);
  const t = tiles ?? chooseWgradGpuTiles(w, shape), def = wgradGpuTiles(w.M, w.K);
  if (!validGpuWgrad(shape)(t)) throw new Error(`pointwiseWgrad: gpu-shape tiles ${JSON.stringify(t)} do not fit (TM·TQ <= 16, TQ <= 4, workgroup memory within the device's limit)`);
  const L = wgradGpuChunks((w.N * w.P) / pixelVector(w.P), dwTileCount(w, def.TM, 4 * def.TQ), w.G * w.M * w.K, shape).L;
  const spec = gpuSpec(w, t, shape);
  return {
    TM: t.TM, TK: 4 * t.TQ, L,
    run: (uniforms, buffers, dwTiles, chunks) => wgradGpuKernel.run(spec, { uniforms, buffers, grid: grid1d(dwTiles * chunks, 1) }),
  };
}

/**
 * dw = conv1x1 wgrad: dW[g] = Σ_n dY[n, g] · X[n, g]ᵀ, f32 [Cout, Cin/G, 1, 1], in the adapter's
 * reduction shape. `tiles` (tests, the tuner) replaces the chosen dW tile (the cpu shape's { TM, TK,
 * WGX? } or the gpu shape's { TM, TQ }); the reduction's chunks stay the default tile's, so the result
 * does not depend on it.
 */
export function pointwiseWgrad(x: Tensor, dy: Tensor, G: number, tiles?: WgradTiles | { TM: number; TK: number } | WgradGpuTiles): Tensor {
  const [N, Cin, H, W] = x.shape;
  const Cout = dy.shape[1], P = H * W, K = Cin / G, M = Cout / G;
  const PV = pixelVector(P), HWv = P / PV;
  const problem: WgradShape = { x: x.dtype, N, G, M, K, P };
  const shape = reductionShape();
  const pass = shape.name === 'gpu' ? gpuWgradPass(problem, shape, tiles) : cpuWgradPass(problem, tiles);
  const mTiles = Math.ceil(M / pass.TM), kTiles = Math.ceil(K / pass.TK), S = Cout * K;
  const dwTiles = G * mTiles * kTiles;
  const windows = batchWindows('conv2d_pointwise.wgrad', N, [x, dy]);
  const L = windowedChunkLength(windows, HWv, pass.L, S);
  const perWindow = windows.map((w) => Math.ceil((w.count * HWv) / L));
  const chunks = perWindow.reduce((a, b) => a + b, 0);
  const dwShape = [Cout, K, 1, 1];
  // every window's chunks write their rows of one part buffer (at most partFloats(), bound whole)
  const part = Tensor.empty(chunks === 1 ? dwShape : [chunks, S], 'f32');
  let c0 = 0;
  windows.forEach((w, i) => {
    const cw = perWindow[i]!;
    pass.run({ Pv: w.count * HWv, HWv, M, K, Cx: Cin, Cy: Cout, L, tiles: dwTiles, chunks: cw, c0, mTiles, kTiles, S },
      { x: rowsOf(x, N, w), dy: rowsOf(dy, N, w), part }, dwTiles, cw);
    c0 += cw;
  });
  if (chunks === 1) return part;
  const dw = sumColumns(part, dwShape);
  part.dispose();
  return dw;
}

// ---------------------------------------------------------------------------------------------------

/** 1x1 group convolution with autograd: x [N, Cin, H, W], w [Cout, Cin/G, 1, 1] f32, G groups. */
export const pointwiseConv = defineOp('pointwiseConv', {
  check: (e, x: Tensor, w: Tensor, G: number) => {
    e.rank('x', x, 4);
    e.rank('w', w, 4);
    e.dtype('x', x, 'f32', 'f16');
    e.dtype('w', w, 'f32');
    e.positiveInt('G', G);
    const [, Cin] = x.shape, Cout = w.shape[0];
    e.divisible('Cin', Cin, 'G', G);
    e.divisible('Cout', Cout, 'G', G);
    e.shape('w', w, [Cout, Cin / G, 1, 1], ['x', x]);
  },
  forward: (x: Tensor, w: Tensor, G: number) => ({ y: pointwiseForward(x, w, G), saved: { x, w, G } }),
  backward: (dy, { x, w, G }, needs) => [
    needs[0] ? pointwiseDgrad(dy, w, G, x.shape) : null,
    needs[1] ? pointwiseWgrad(x, dy, G) : null,
  ],
});
