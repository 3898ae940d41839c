// Pointwise wgrad's first pass in the GPU reduction shape (kernels/reduction_shape.ts):
//   part[c, gM + m, k] = Σ_{pixel vectors v of chunk c} dy[n, gM + m, v] · x[n, gK + k, v]
// with a workgroup per (TM x 4·TQ tile of dw, chunk). The CPU-shaped kernel (conv2d_pointwise.ts) gives
// each invocation a whole chunk, so neighbouring lanes read pixels a plane apart: one SIMD batch per
// load is what llvmpipe wants, and uncoalesced loads are what a GPU does not. Here the lanes of a
// workgroup walk the chunk's pixel vectors side by side (lane t takes v0 + t, v0 + t + WG, ...), so a
// warp's loads of a channel row are consecutive, and the workgroup then combines its lanes' partials:
// with subgroupAdd per subgroup, each subgroup's sums stored in slots that invocation r (one per
// accumulator r) then adds in subgroup order, or (plain) by a tree in workgroup memory. Both orders are
// fixed for a device, so the result does not depend on the tile: tiles are a tuning choice, the shape
// (which sets the order) is not.
// Accumulators are vec4f along k (4·TQ columns of dw per tile; columns past K load clamped rows and
// store nothing), so the plain tree moves four sums per barrier.
import type { DType } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { range } from './wgsl.ts';
import { SUBGROUP_BUILTINS, maxSubgroups } from './workgroup_reduce.ts';

/** WG lanes (a power of two), TM rows x 4·TQ columns of dw per workgroup; sg: combine by subgroups. */
export type WgradGpuSpec = { dtype: DType; PV: 1 | 2 | 4; TM: number; TQ: number; WG: number; sg: boolean };
/** The tile a caller (the tuner, tests) may choose: TM rows x 4·TQ columns of dw. */
export type WgradGpuTiles = { TM: number; TQ: number };

export const wgradGpuKernel = defineKernel({
  name: 'conv2d_pointwise.wgrad_gpu',
  variant: (s: WgradGpuSpec) => `${s.dtype}/pv${s.PV}/${s.TM}x${4 * s.TQ}/wg${s.WG}${s.sg ? '/sg' : ''}`,
  // as the CPU-shaped kernel's: c0 is the window's first chunk (row of part), chunks and Pv the window's own
  uniforms: { Pv: 'u32', HWv: 'u32', M: 'u32', K: 'u32', Cx: 'u32', Cy: 'u32', L: 'u32', tiles: 'u32', chunks: 'u32', c0: 'u32', mTiles: 'u32', kTiles: 'u32', S: 'u32' },
  buffers: (s) => [input('x', s.dtype, s.PV), input('dy', s.dtype, s.PV), output('part', 'f32')],
  subgroups: (s) => s.sg,
  body: (s: WgradGpuSpec) => {
    const Ms = range(s.TM), Qs = range(s.TQ), Ks = range(4 * s.TQ), acc = (i: number, q: number) => `acc${i}_${q}`;
    const prod = (i: number, j: number) => (s.PV === 1 ? `d${i} * x${j}` : `dot(d${i}, x${j})`);
    const sums = Ms.flatMap((i) => Qs.map((q) => ({ i, q, name: acc(i, q) })));
    // the workgroup's sum of each accumulator, stored by invocation i·TQ + q (subgroups: one row of
    // slots per accumulator, the rows added side by side) or by invocation 0 after each tree (plain)
    const combine = s.sg ? /* wgsl */ `
  ${sums.map((a, r) => `{ let v = subgroupAdd(${a.name}); if (subgroupElect()) { slots[${r * maxSubgroups(s.WG)}u + sid] = v; } }`).join('\n  ')}
  workgroupBarrier();
  if (t < ${sums.length}u) {
    var a = slots[t * ${maxSubgroups(s.WG)}u];
    for (var k = 1u; k < nsg; k++) { a += slots[t * ${maxSubgroups(s.WG)}u + k]; }
    let i = t / ${s.TQ}u;
    let q = t % ${s.TQ}u;
    store_tile(pb, m0, k0, i, q, a);
  }` : /* wgsl */ `
  ${sums.map((a) => `{
    tree[t] = ${a.name};
    workgroupBarrier();
    for (var h = ${s.WG / 2}u; h > 0u; h >>= 1u) {
      if (t < h) { tree[t] += tree[t + h]; }
      workgroupBarrier();
    }
    if (t == 0u) { store_tile(pb, m0, k0, ${a.i}u, ${a.q}u, tree[0]); }
    workgroupBarrier();
  }`).join('\n  ')}`;
    return /* wgsl */ `
${s.sg ? `var<workgroup> slots: array<vec4f, ${sums.length * maxSubgroups(s.WG)}>;` : `var<workgroup> tree: array<vec4f, ${s.WG}>;`}

// columns 4q..4q+3 of row i of the tile, those inside dw
fn store_tile(pb: u32, m0: u32, k0: u32, i: u32, q: u32, v: vec4f) {
  if (m0 + i >= u.M) { return; }
  for (var e = 0u; e < 4u; e++) {
    let k = k0 + 4u * q + e;
    if (k < u.K) { part[pb + i * u.K + 4u * q + e] = v[e]; }
  }
}

// one workgroup per (tile of dw over all groups, chunk of L pixel vectors), tiles fastest; the grid is
// folded into two dimensions, and a workgroup past the end returns as a whole (uniform control flow)
@compute @workgroup_size(${s.WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32${s.sg ? `, ${SUBGROUP_BUILTINS}` : ''}) {
  let wi = wid.x + wid.y * nwg.x;
  if (wi >= u.tiles * u.chunks) { return; }
  let c = wi / u.tiles;
  let tc = wi % u.tiles;
  let g = tc / (u.mTiles * u.kTiles);
  let m0 = ((tc / u.kTiles) % u.mTiles) * ${s.TM}u;
  let k0 = (tc % u.kTiles) * ${4 * s.TQ}u;
  let v0 = min(c * u.L, u.Pv);
  let v1 = min(v0 + u.L, u.Pv);
  ${Ms.map((i) => `let dm${i} = (g * u.M + min(m0 + ${i}u, u.M - 1u)) * u.HWv;`).join(' ')}
  ${Ks.map((j) => `let xk${j} = (g * u.K + min(k0 + ${j}u, u.K - 1u)) * u.HWv;`).join(' ')}
  ${sums.map((a) => `var ${a.name} = vec4f(0.0);`).join(' ')}
  for (var v = v0 + t; v < v1; v += ${s.WG}u) {
    let n = v / u.HWv;
    let h = v % u.HWv;
    let dyo = n * u.Cy * u.HWv + h;
    let xo = n * u.Cx * u.HWv + h;
    ${Ms.map((i) => `let d${i} = ld_dy(dyo + dm${i});`).join(' ')}
    ${Ks.map((j) => `let x${j} = ld_x(xo + xk${j});`).join(' ')}
    ${sums.map((a) => `${a.name} += vec4f(${range(4).map((e) => prod(a.i, 4 * a.q + e)).join(', ')});`).join('\n    ')}
  }
  let pb = (u.c0 + c) * u.S + (g * u.M + m0) * u.K + k0;
  ${combine}
}`;
  },
});

/** Workgroup memory the kernel declares, in bytes (checked against the device's limit by the caller). */
export const wgradGpuSharedBytes = (s: Pick<WgradGpuSpec, 'TM' | 'TQ' | 'WG' | 'sg'>) => 16 * (s.sg ? s.TM * s.TQ * maxSubgroups(s.WG) : s.WG);

/**
 * Default tile: 4 rows x 4 columns (8 loads per 16 products per pixel vector, 4 vec4 accumulators per
 * lane), fewer rows when M is smaller; one vec4 of columns when K is at most 4, else two where K fills them.
 */
export function wgradGpuTiles(M: number, K: number): WgradGpuTiles {
  return { TM: Math.min(4, M), TQ: K > 4 && K % 8 === 0 ? 2 : 1 };
}

/** Tuning candidates: the default, then TM 1-8 x TQ 1-2 within M and K (at most 16 vec4 accumulators). */
export function wgradGpuCandidates(M: number, K: number): WgradGpuTiles[] {
  const def = wgradGpuTiles(M, K), out = [def];
  for (const TM of [1, 2, 4, 8].filter((t, i) => i === 0 || t <= M)) for (const TQ of [1, 2].filter((q, i) => i === 0 || 4 * q <= K)) {
    if (!out.some((t) => t.TM === TM && t.TQ === TQ)) out.push({ TM, TQ });
  }
  return out;
}
