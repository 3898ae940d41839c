// The pointwise convolution's grouped GEMM (kernels/conv2d_pointwise.ts), GPU-shaped: workgroups of
// 64-256 invocations share tiles in workgroup memory. A workgroup owns BM = WGY·TM output channels x
// BN = WGX·TPV pixel vectors of one group; for each slice of BK reduction rows it loads the slice of
// a (BM x BK) and of x (BK x BN) cooperatively, every value once, waits at a barrier, and each
// invocation multiplies its TM x TPV outputs from the shared copies. On a GPU that turns (TM + TPV)
// global loads per row into shared ones and makes the global loads coalesced; on llvmpipe barriers
// cost more than they save, so the register-tiled kernel stays the default and the tuner chooses.
// The sum over r runs from 0 upwards with one fma per row, as in the register kernel, and rows past R
// are zeros in both tiles (fma(0, 0, acc) is acc): both kernels give the same bits.
// Invocation (tx, ty) = (lid % WGX, lid / WGX) computes channels o0 + i·WGY + ty and pixel vectors
// q0 + j·WGX + tx (strided, so neighbouring lanes read neighbouring shared words). x's tile is loaded
// WGY/TPV rows per pass (each invocation keeps one column, so its pixel address is computed once).
import { deviceInfo, type DType } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { range } from './wgsl.ts';

/** Workgroup WGX x WGY, TM x TPV outputs per invocation, BK reduction rows per shared slice. */
export type TiledTiles = { TM: number; TPV: number; WGX: number; WGY: number; BK: number };
export type TiledSpec = TiledTiles & { x: DType; y: DType; PV: 1 | 2 | 4; bias?: boolean; relu?: boolean };

/** Bytes of workgroup memory a tiling uses: x's slice (PV floats a vector) and a's. */
export const tiledStorage = (t: TiledTiles, PV: number) => 4 * t.BK * (t.WGX * t.TPV * PV + t.WGY * t.TM);

/** Whether the kernel accepts `t` with PV-pixel vectors on this device (shape rules, then limits). */
export function tiledFits(t: TiledTiles, PV: number): boolean {
  const lim = deviceInfo().limits, NT = t.WGX * t.WGY;
  const whole = [t.TM, t.TPV, t.WGX, t.WGY, t.BK].every((v) => Number.isSafeInteger(v) && v >= 1);
  return whole && t.WGY % t.TPV === 0 && t.BK % (t.WGY / t.TPV) === 0 && t.TM * t.TPV <= 64 && t.BK <= 32 &&
    NT <= lim.maxComputeInvocationsPerWorkgroup && NT <= lim.maxComputeWorkgroupSizeX && tiledStorage(t, PV) <= lim.maxComputeWorkgroupStorageSize;
}

/**
 * Tilings the tuner times for O output channels per group: 64-256 invocations, 2-8 channels x 1-2
 * pixel vectors each (GPU register budgets), slices of 8-16 rows; those whose channel tile would be
 * more than half padding are left out, unless none is left.
 */
export function tiledCandidates(O: number, PV: number): TiledTiles[] {
  const all: TiledTiles[] = [
    { WGX: 16, WGY: 16, TM: 4, TPV: 1, BK: 16 },
    { WGX: 16, WGY: 16, TM: 4, TPV: 2, BK: 16 },
    { WGX: 32, WGY: 8, TM: 2, TPV: 1, BK: 8 },
    { WGX: 16, WGY: 8, TM: 4, TPV: 2, BK: 8 },
    { WGX: 8, WGY: 8, TM: 2, TPV: 2, BK: 8 },
  ].filter((t) => tiledFits(t, PV));
  const lean = all.filter((t) => t.WGY * t.TM <= 2 * O);
  return lean.length ? lean : all.slice(-1);
}

export const tiledGemmKernel = defineKernel({
  name: 'conv2d_pointwise.gemm_tiled',
  variant: (s: TiledSpec) => `${s.x}>${s.y}/pv${s.PV}/${s.TM}x${s.TPV}/wg${s.WGX}x${s.WGY}/k${s.BK}${s.bias ? '/bias' : ''}${s.relu ? '/relu' : ''}`,
  uniforms: { Pv: 'u32', HWv: 'u32', R: 'u32', O: 'u32', Cx: 'u32', Cy: 'u32', yOff: 'u32', oTiles: 'u32' },
  buffers: (s) => [input('x', s.x, s.PV), input('a', 'f32'), ...(s.bias ? [input('b', 'f32')] : []), output('y', s.y, s.PV)],
  body: (s) => {
    const NT = s.WGX * s.WGY, BM = s.WGY * s.TM, BN = s.WGX * s.TPV, RP = NT / BN;
    const Ms = range(s.TM), Ps = range(s.TPV), acc = (i: number, j: number) => `acc${i}_${j}`;
    const aLoads = Math.ceil((BM * s.BK) / NT), aGuard = (BM * s.BK) % NT !== 0;
    const biased = (v: string, i: number) => (s.bias ? `${v} + T_x(b[g * u.O + o0 + ${i * s.WGY}u + ty])` : v);
    const epilogue = (v: string, i: number) => (s.relu ? `max(${biased(v, i)}, T_x(0.0))` : biased(v, i));
    return /* wgsl */ `
var<workgroup> xs: array<T_x, ${s.BK * BN}>;
var<workgroup> ws: array<f32, ${BM * s.BK}>;

// one workgroup per (group, tile of ${BM} output channels, tile of ${BN} pixel vectors); pixels are
// flattened over (n, p); out-of-range rows, channels and pixels load zeros or clamped addresses and store nothing
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y / u.oTiles;
  let o0 = (wid.y % u.oTiles) * ${BM}u;
  let q0 = wid.x * ${BN}u;
  let tx = lid % ${s.WGX}u;
  let ty = lid / ${s.WGX}u;
  // this invocation's column of x's tile and its first row in each pass
  let lq = q0 + lid % ${BN}u;
  let lr = lid / ${BN}u;
  let lqc = min(lq, u.Pv - 1u);
  let xcol = ((lqc / u.HWv) * u.Cx + g * u.R) * u.HWv + lqc % u.HWv;
  ${Ms.map((i) => Ps.map((j) => `var ${acc(i, j)} = T_x(0.0);`).join(' ')).join('\n  ')}
  for (var r0 = 0u; r0 < u.R; r0 += ${s.BK}u) {
    ${range(s.BK / RP).map((e) => `{
      let r = r0 + lr + ${e * RP}u;
      xs[(lr + ${e * RP}u) * ${BN}u + lid % ${BN}u] = select(T_x(0.0), ld_x(xcol + min(r, u.R - 1u) * u.HWv), r < u.R && lq < u.Pv);
    }`).join('\n    ')}
    ${range(aLoads).map((e) => `{
      let t = lid + ${e * NT}u;
      let m = t / ${s.BK}u;
      let kk = t % ${s.BK}u;
      let r = r0 + kk;
      ${aGuard ? `if (t < ${BM * s.BK}u) {` : '{'}
        ws[kk * ${BM}u + m] = select(0.0, a[(g * u.O + min(o0 + m, u.O - 1u)) * u.R + min(r, u.R - 1u)], r < u.R);
      }
    }`).join('\n    ')}
    workgroupBarrier();
    for (var kk = 0u; kk < ${s.BK}u; kk++) {
      ${Ms.map((i) => `let w${i} = ws[kk * ${BM}u + ${i * s.WGY}u + ty];`).join(' ')}
      ${Ps.map((j) => `let x${j} = xs[kk * ${BN}u + ${j * s.WGX}u + tx];`).join(' ')}
      ${Ms.map((i) => Ps.map((j) => `${acc(i, j)} = fma(T_x(w${i}), x${j}, ${acc(i, j)});`).join(' ')).join('\n      ')}
    }
    workgroupBarrier();
  }
  ${Ps.map((j) => `{
    let q = q0 + ${j * s.WGX}u + tx;
    if (q < u.Pv) {
      let yb = ((q / u.HWv) * u.Cy + u.yOff + g * u.O + o0) * u.HWv + q % u.HWv;
      ${Ms.map((i) => `if (o0 + ${i * s.WGY}u + ty < u.O) { st_y(yb + (${i * s.WGY}u + ty) * u.HWv, ${epilogue(acc(i, j), i)}); }`).join('\n      ')}
    }
  }`).join('\n  ')}
}`;
  },
});
