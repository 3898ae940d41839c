// General direct convolution, NCHW, any kernel size, stride, symmetric padding and groups (PyTorch Conv2d
// without bias): the stem (dense 3x3, Cin = 3) and the fallback for shapes without a special kernel.
//   y[n, co, oh, ow] = Σ_{ci < Cin/G, kh, kw} x[n, g·Cin/G + ci, oh·s − p + kh, ow·s − p + kw] · w[co, ci, kh, kw],
//   g = ⌊co / (Cout/G)⌋
// Backward (adjoint of the same sum):
//   dgrad: dx[n, g·Cin/G + ci, ih, iw] = Σ_{co in g, kh, kw: s | (ih + p − kh), s | (iw + p − kw)} dy[n, co, ·, ·] · w[co, ci, kh, kw]
//   wgrad: dw[co, ci, kh, kw] = Σ_{n, oh, ow} dy[n, co, oh, ow] · x[n, g·Cin/G + ci, oh·s − p + kh, ow·s − p + kw]
//   in two passes: partial sums [weights, chunks of output positions], then reduce.ts's sumRows adds them.
// Forward speed (llvmpipe): a storage load costs a loop over the SIMD lanes unless its address is a
// compile-time constant, and only workgroup memory keeps constant addresses (storage indices get a
// robustness clamp). So a workgroup copies its COT output channels' weights into workgroup memory and
// the fully unrolled window reads them at constant indices (broadcasts), leaving one lane-loop load per
// input tap per pixel, shared by COT output channels. Shapes too big to unroll use a loop over input
// channels with weights loaded from storage. dgrad is one generic gather per dx pair: the model never
// needs it (the stem's input is the image), the general op does. The forward's tile (output channels
// per invocation, workgroup size) is tuned per problem (directForward; every tile gives the same bits).
// Batches over the storage binding limit run in windows of whole images (kernels/windows.ts), w bound
// whole; wgrad's windows chunk their own positions and write their columns of the one partial-sum buffer.
import { Tensor, deviceInfo, grid1d, type DType, type Shape } from '../engine/index.ts';
import { defineKernel, input, output, type UniformFields } from './kernel.ts';
import { WG, builtins, flatIndex, range, pairMain } from './wgsl.ts';
import { sumRows } from './reduce.ts';
import { batchWindows, rowsOf } from './windows.ts';
import { choose, scratchRuns, variantHash, type Choice } from './tuning.ts';

export interface DirectOptions { stride: number; padding: number; groups: number }

/**
 * Uniforms of all three kernels: the conv's geometry and the launch's counts (0 where a kernel has none),
 * for the window's images (NP = its output positions); wgrad's parts are columns [part0, part0 + parts)
 * of partial-sum rows partCols long.
 */
const GEOMETRY: UniformFields = {
  threads: 'u32', Cin: 'u32', H: 'u32', W: 'u32', Cout: 'u32', Ho: 'u32', Wo: 'u32', G: 'u32',
  stride: 'u32', pad: 'i32', pairs: 'u32', parts: 'u32', chunk: 'u32', NP: 'u32', part0: 'u32', partCols: 'u32',
};

const FWD_WG = 64;
/** Unroll the whole window (weights at constant workgroup-memory indices) up to this many taps per output. */
const MAX_UNROLL = 64;

/**
 * tile: one invocation per pair of consecutive output pixels of a plane × COT output channels;
 * pairs: one invocation per pair of y elements (f16 planes of odd size, where a pixel pair would straddle planes).
 */
type FwdSpec = { dtype: DType; mode: 'tile' | 'pairs'; KH: number; KW: number; Cig: number; COT: number; unroll: boolean; WG: number };

/** x value of input channel offset `cb` at (ih, iw) = (ihb + kh, iwb + kw), 0 in the padding. */
const xTap = (cb: string, ihb: string, iwb: string, kh: number, kw: number) =>
  `ldz(${cb}, ${ihb} + ${kh}, ${iwb} + ${kw})`;

const ldz = /* wgsl */ `
// x at (ih, iw) of the plane starting at cb, 0 in the padding. & rather than && (a branch): inlined into a
// loop, SwiftShader's compile time doubles with about every branch more in the loop's body
fn ldz(cb: u32, ih: i32, iw: i32) -> f32 {
  let ok = (ih >= 0) & (ih < i32(u.H)) & (iw >= 0) & (iw < i32(u.W));
  return select(0.0, ld_x(cb + u32(clamp(ih, 0, i32(u.H) - 1)) * u.W + u32(clamp(iw, 0, i32(u.W) - 1))), ok);
}`;

const forwardKernel = defineKernel({
  name: 'conv2d_direct.forward',
  variant: (s: FwdSpec) => `${s.dtype}/${s.mode}/k${s.KH}x${s.KW}/cig${s.unroll ? s.Cig : '*'}/cot${s.COT}${s.unroll ? '/unrolled' : ''}${s.WG === FWD_WG ? '' : `/wg${s.WG}`}`,
  uniforms: GEOMETRY,
  buffers: (s) => [input('x', s.dtype), input('w', 'f32'), output('y', s.dtype)],
  body: (s) => {
    const KK = s.KH * s.KW;
    if (s.mode === 'pairs') return /* wgsl */ `${ldz}
fn one(e: u32) -> f32 {
  let hw = e % (u.Ho * u.Wo);
  let co = (e / (u.Ho * u.Wo)) % u.Cout;
  let n = e / (u.Ho * u.Wo * u.Cout);
  let Cig = u.Cin / u.G;
  let xb = (n * u.Cin + (co / (u.Cout / u.G)) * Cig) * u.H * u.W;
  let ihb = i32((hw / u.Wo) * u.stride) - u.pad;
  let iwb = i32((hw % u.Wo) * u.stride) - u.pad;
  var acc = 0.0;
  for (var ci = 0u; ci < Cig; ci++) {
    let cb = xb + ci * u.H * u.W;
    let wb = (co * Cig + ci) * ${KK}u;
    ${range(s.KH).map((kh) => range(s.KW).map((kw) => `acc = fma(${xTap('cb', 'ihb', 'iwb', kh, kw)}, w[wb + ${kh * s.KW + kw}u], acc);`).join(' ')).join('\n    ')}
  }
  return acc;
}
${pairMain('y', 'one', 'u.threads')}`;
    const COT = s.COT;
    const acc = range(2).map((P) => range(COT).map((co) => `var a${P}_${co} = 0.0;`).join(' ')).join('\n  ');
    const fmas = (ci: string, wIdx: (co: number, k: number) => string) => range(s.KH).map((kh) => range(s.KW).map((kw) => {
      const k = kh * s.KW + kw;
      return `{ let v0 = ${xTap(`xb + ${ci} * u.H * u.W`, 'ihb0', 'iwb0', kh, kw)}; let v1 = ${xTap(`xb + ${ci} * u.H * u.W`, 'ihb1', 'iwb1', kh, kw)};
    ${range(COT).map((co) => `{ let wv = ${wIdx(co, k)}; a0_${co} = fma(v0, wv, a0_${co}); a1_${co} = fma(v1, wv, a1_${co}); }`).join(' ')} }`;
    }).join('\n    ')).join('\n    ');
    const body = s.unroll
      ? range(s.Cig).map((ci) => fmas(`${ci}u`, (co, k) => `ws[${(co * s.Cig + ci) * KK + k}]`)).join('\n  ')
      : `for (var ci = 0u; ci < Cig; ci++) {
    ${fmas('ci', (co, k) => `w[((co0 + ${co}u) * Cig + ci) * ${KK}u + ${k}u]`)}
  }`;
    const store = s.dtype === 'f32'
      ? range(COT).map((co) => `y[yb + ${co}u * plane] = a0_${co}; if (hw0 + 1u < plane) { y[yb + ${co}u * plane + 1u] = a1_${co}; }`).join('\n    ')
      : range(COT).map((co) => `st2_y((yb + ${co}u * plane) >> 1u, vec2f(a0_${co}, a1_${co}));`).join('\n    ');
    return /* wgsl */ `${ldz}
${s.unroll ? `var<workgroup> ws: array<f32, ${COT * s.Cig * KK}>;` : ''}
// workgroups: x/y fold the pixel pairs of all planes (${s.WG} per group), z the block of ${COT} output channels
@compute @workgroup_size(${s.WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let co0 = wid.z * ${COT}u;
  let Cig = u.Cin / u.G;
  ${s.unroll ? `for (var i = t; i < ${COT * s.Cig * KK}u; i += ${s.WG}u) { ws[i] = w[co0 * ${s.Cig * KK}u + i]; }
  workgroupBarrier();` : ''}
  // no early return: the unrolled loads of ws must run outside control flow to stay broadcasts
  let q = (wid.x + wid.y * nwg.x) * ${s.WG}u + t;
  let qq = min(q, u.threads - 1u);
  let plane = u.Ho * u.Wo;
  let hw0 = (qq % u.pairs) * 2u;
  let hw1 = min(hw0 + 1u, plane - 1u);
  let n = qq / u.pairs;
  let xb = (n * u.Cin + (co0 / (u.Cout / u.G)) * Cig) * u.H * u.W;
  let ihb0 = i32((hw0 / u.Wo) * u.stride) - u.pad;
  let iwb0 = i32((hw0 % u.Wo) * u.stride) - u.pad;
  let ihb1 = i32((hw1 / u.Wo) * u.stride) - u.pad;
  let iwb1 = i32((hw1 % u.Wo) * u.stride) - u.pad;
  ${acc}
  ${body}
  if (q < u.threads) {
    let yb = (n * u.Cout + co0) * plane + hw0;
    ${store}
  }
}`;
  },
});

type BwdSpec = { dtype: DType; KH: number; KW: number };

const dgradKernel = defineKernel({
  name: 'conv2d_direct.dgrad',
  variant: (s: BwdSpec) => `${s.dtype}/k${s.KH}x${s.KW}`,
  uniforms: GEOMETRY,
  buffers: (s) => [input('dy', s.dtype), input('w', 'f32'), output('dx', s.dtype)],
  body: (s) => /* wgsl */ `
fn one(e: u32) -> f32 {
  let iw = e % u.W;
  let ih = (e / u.W) % u.H;
  let c = (e / (u.W * u.H)) % u.Cin;
  let n = e / (u.W * u.H * u.Cin);
  let Cig = u.Cin / u.G;
  let Cog = u.Cout / u.G;
  let g = c / Cig;
  var acc = 0.0;
  for (var kh = 0u; kh < ${s.KH}u; kh++) {
    let th = i32(ih) + u.pad - i32(kh);
    if (th < 0 || th % i32(u.stride) != 0 || u32(th) / u.stride >= u.Ho) { continue; }
    for (var kw = 0u; kw < ${s.KW}u; kw++) {
      let tw = i32(iw) + u.pad - i32(kw);
      if (tw < 0 || tw % i32(u.stride) != 0 || u32(tw) / u.stride >= u.Wo) { continue; }
      let yo = (u32(th) / u.stride) * u.Wo + u32(tw) / u.stride;
      for (var co = g * Cog; co < (g + 1u) * Cog; co++) {
        acc = fma(ld_dy((n * u.Cout + co) * u.Ho * u.Wo + yo), w[((co * Cig + c % Cig) * ${s.KH}u + kh) * ${s.KW}u + kw], acc);
      }
    }
  }
  return acc;
}
${pairMain('dx', 'one', 'u.threads')}`,
});

type WgradSpec = BwdSpec & { COT: number };

// wgrad pass 1: invocation (co block, ci, part) sums COT x KH·KW products over a chunk of output positions
const wgradPartsKernel = defineKernel({
  name: 'conv2d_direct.wgrad',
  variant: (s: WgradSpec) => `${s.dtype}/k${s.KH}x${s.KW}/cot${s.COT}`,
  uniforms: GEOMETRY,
  buffers: (s) => [input('x', s.dtype), input('dy', s.dtype), output('part', 'f32')],
  body: (s) => {
    const KK = s.KH * s.KW;
    return /* wgsl */ `${ldz}
// one invocation per (block of ${s.COT} output channels, input channel of the group, chunk of positions)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  if (t >= u.threads) { return; }
  let Cig = u.Cin / u.G;
  let pt = t % u.parts;
  let ci = (t / u.parts) % Cig;
  let co0 = (t / (u.parts * Cig)) * ${s.COT}u;
  let xc = (co0 / (u.Cout / u.G)) * Cig + ci;
  let plane = u.Ho * u.Wo;
  let p0 = pt * u.chunk;
  let p1 = min(p0 + u.chunk, u.NP);
  ${range(s.COT).map((co) => range(KK).map((k) => `var s${co}_${k} = 0.0;`).join(' ')).join('\n  ')}
  var ow = p0 % u.Wo;
  var oh = (p0 / u.Wo) % u.Ho;
  var n = p0 / plane;
  for (var p = p0; p < p1; p++) {
    let yb = (n * u.Cout + co0) * plane + oh * u.Wo + ow;
    ${range(s.COT).map((co) => `let d${co} = ld_dy(yb + ${co}u * plane);`).join(' ')}
    let cb = (n * u.Cin + xc) * u.H * u.W;
    let ihb = i32(oh * u.stride) - u.pad;
    let iwb = i32(ow * u.stride) - u.pad;
    ${range(s.KH).map((kh) => range(s.KW).map((kw) => {
      const k = kh * s.KW + kw;
      return `{ let v = ${xTap('cb', 'ihb', 'iwb', kh, kw)}; ${range(s.COT).map((co) => `s${co}_${k} = fma(d${co}, v, s${co}_${k});`).join(' ')} }`;
    }).join('\n    ')).join('\n    ')}
    // next position: ow, then oh, then n
    ow += 1u;
    if (ow == u.Wo) { ow = 0u; oh += 1u; }
    if (oh == u.Ho) { oh = 0u; n += 1u; }
  }
  ${range(s.COT).map((co) => range(KK).map((k) => `part[(((co0 + ${co}u) * Cig + ci) * ${KK}u + ${k}u) * u.partCols + u.part0 + pt] = s${co}_${k};`).join(' ')).join('\n  ')}
}`;
  },
});

const outSize = (n: number, k: number, s: number, p: number) => Math.floor((n + 2 * p - k) / s) + 1;

/** Largest divisor of n that is at most cap. */
const divisorUpTo = (n: number, cap: number) => { for (let d = Math.min(n, cap); d > 1; d--) if (n % d === 0) return d; return 1; };

/** The GEOMETRY uniforms of a conv of N images (a window's) of x [xShape] by w [wShape], with the launch's counts. */
function dims(xShape: Shape, N: number, wShape: Shape, o: DirectOptions,
  extra: { threads: number; pairs?: number; parts?: number; chunk?: number; part0?: number; partCols?: number }) {
  const [, Cin, H, W] = xShape;
  const [Cout, , KH, KW] = wShape;
  const Ho = outSize(H, KH, o.stride, o.padding), Wo = outSize(W, KW, o.stride, o.padding);
  return {
    threads: extra.threads, Cin, H, W, Cout, Ho, Wo, G: o.groups, stride: o.stride, pad: o.padding,
    pairs: extra.pairs ?? 0, parts: extra.parts ?? 0, chunk: extra.chunk ?? 0, NP: N * Ho * Wo,
    part0: extra.part0 ?? 0, partCols: extra.partCols ?? 0,
  };
}

/** A forward tile: output channels per invocation (COT) and invocations per workgroup (WG). */
export interface DirectTile { COT: number; WG: number }

const FWD_WGS = [64, 256];
const COTS = [1, 2, 4, 8, 12];
const cotCap = (unroll: boolean) => (unroll ? 12 : 8);
const fitsWg = (wg: number) => wg <= deviceInfo().limits.maxComputeInvocationsPerWorkgroup && wg <= deviceInfo().limits.maxComputeWorkgroupSizeX;

/**
 * Forward tiles the tuner times (each output is the same fma chain over (ci, kh, kw) whatever the
 * tile, so all give the default's bits): the default (the most output channels per invocation up to
 * 12 unrolled / 8 looped that divide a group's, 64 invocations), then 1, 2, 4, 8 or 12 output channels
 * where they divide a group's, x workgroups of 64 or 256 (few: each is an unrolled pipeline to compile).
 */
export function directTileCandidates(wShape: Shape, groups: number): DirectTile[] {
  const [Cout, Cig, KH, KW] = wShape, Coutg = Cout / groups, unroll = Cig * KH * KW <= MAX_UNROLL;
  const def = { COT: divisorUpTo(Coutg, cotCap(unroll)), WG: FWD_WG };
  const cots = [...new Set([def.COT, ...COTS])].filter((c) => c <= cotCap(unroll) && Coutg % c === 0);
  return [def, ...cots.flatMap((COT) => FWD_WGS.filter(fitsWg).map((WG) => ({ COT, WG }))).filter((t) => t.COT !== def.COT || t.WG !== def.WG)];
}
/** A cached choice is used only while it is still a candidate (all tested; an edited cache may hold anything). */
const validTile = (wShape: Shape, groups: number) => (c: Choice): boolean => Object.keys(c).sort().join() === 'COT,WG' &&
  directTileCandidates(wShape, groups).some((t) => t.COT === c.COT && t.WG === c.WG);

/**
 * y [N, Cout, Ho, Wo] (x's dtype) = conv2d(x [N, Cin, H, W], w [Cout, Cin/G, KH, KW] f32). `tile`: a
 * forward tile instead of the tuned or default one (tests).
 */
export function directForward(x: Tensor, w: Tensor, o: DirectOptions, tile?: DirectTile): Tensor {
  const [N, Cin, H, W] = x.shape;
  const [Cout, Cig, KH, KW] = w.shape;
  const Ho = outSize(H, KH, o.stride, o.padding), Wo = outSize(W, KW, o.stride, o.padding);
  const y = Tensor.empty([N, Cout, Ho, Wo], x.dtype);
  const plane = Ho * Wo, dtype = x.dtype;
  const pairsMode = dtype === 'f16' && plane % 2 === 1;
  const unroll = Cig * KH * KW <= MAX_UNROLL;
  const tileSpec = (t: DirectTile): FwdSpec => ({ dtype, mode: 'tile', KH, KW, Cig, COT: t.COT, unroll, WG: t.WG });
  const run = (spec: FwdSpec, x: Tensor, w: Tensor, y: Tensor) => {
    for (const win of batchWindows('conv2d_direct.forward', N, [x, y])) {
      const buffers = { x: rowsOf(x, N, win), w, y: rowsOf(y, N, win) };
      if (spec.mode === 'pairs') {
        const total = win.count * Cout * plane;
        forwardKernel.run(spec, { uniforms: dims(x.shape, win.count, w.shape, o, { threads: total }), buffers, grid: grid1d(Math.ceil(total / 2), WG) });
        continue;
      }
      const pairs = Math.ceil(plane / 2), threads = win.count * pairs;
      const [gx, gy] = grid1d(threads, spec.WG);
      forwardKernel.run(spec, { uniforms: dims(x.shape, win.count, w.shape, o, { threads, pairs }), buffers, grid: [gx, gy, Cout / spec.COT] });
    }
  };
  if (pairsMode) {
    run({ dtype, mode: 'pairs', KH, KW, Cig, COT: 1, unroll: false, WG: FWD_WG }, x, w, y); // (pairs launch WG-wide whatever spec.WG)
    return y;
  }
  const [def] = directTileCandidates(w.shape, o.groups);
  const t = tile ?? choose<DirectTile>({
    kernel: 'conv2d_direct.forward', def: def!,
    shape: `${dtype} N${N} ${Cin}x${H}x${W} -> ${Cout} k${KH}x${KW} s${o.stride} p${o.padding} g${o.groups}`,
    text: `direct conv ${dtype} [${N}, ${Cin}, ${H}, ${W}] -> ${Cout} ${KH}x${KW}/${o.stride}`,
    candidates: () => directTileCandidates(w.shape, o.groups),
    valid: validTile(w.shape, o.groups),
    source: () => variantHash(`${forwardKernel.name}/${JSON.stringify(tileSpec(def!))}`, () => forwardKernel.wgsl(tileSpec(def!))),
    open: scratchRuns([[x.shape, dtype], [w.shape, 'f32']], [[y.shape, dtype]], (c, [a, k, b]) => run(tileSpec(c), a!, k!, b!)),
  });
  run(tileSpec(t), x, w, y);
  return y;
}

/** dx [xShape] (dy's dtype) from dy [N, Cout, Ho, Wo] and w [Cout, Cin/G, KH, KW]. */
export function directDgrad(dy: Tensor, w: Tensor, xShape: Shape, o: DirectOptions): Tensor {
  const [, , KH, KW] = w.shape;
  const N = xShape[0];
  const dx = Tensor.empty(xShape, dy.dtype);
  for (const win of batchWindows('conv2d_direct.dgrad', N, [dy, dx])) {
    const total = (dx.size / N) * win.count;
    dgradKernel.run({ dtype: dy.dtype, KH, KW }, {
      uniforms: dims(xShape, win.count, w.shape, o, { threads: total }),
      buffers: { dy: rowsOf(dy, N, win), w, dx: rowsOf(dx, N, win) }, grid: grid1d(Math.ceil(total / 2), WG),
    });
  }
  return dx;
}

/** dw [wShape] f32 from x [N, Cin, H, W] and dy [N, Cout, Ho, Wo] (same dtype). */
export function directWgrad(x: Tensor, dy: Tensor, wShape: Shape, o: DirectOptions): Tensor {
  const [Cout, Cig, KH, KW] = wShape;
  const KK = KH * KW;
  const N = x.shape[0], plane = dy.shape[2] * dy.shape[3], NP = N * plane;
  // up to 216 accumulators: each position's COT dy loads and KH·KW x loads feed COT·KH·KW products
  // (the stem, 48 channels k3: COT = 24 ran 1.7x faster than 4; 48 compiled for seconds and ran slower)
  const COT = divisorUpTo(Cout / o.groups, Math.max(1, Math.floor(216 / KK)));
  const rows = (Cout / COT) * Cig;
  // enough invocations to fill the machine, each summing at least 64 positions
  const parts = Math.max(1, Math.min(Math.ceil(NP / 64), Math.ceil(4096 / rows)));
  const chunk = Math.ceil(NP / parts);
  // a chunk never spans two windows: each window sums its own chunks into its columns of part
  const windows = batchWindows('conv2d_direct.wgrad', N, [x, dy]);
  const perWindow = windows.length === 1 ? [parts] : windows.map((w) => Math.ceil((w.count * plane) / chunk));
  const partCols = perWindow.reduce((a, b) => a + b, 0);
  const part = Tensor.empty([Cout * Cig * KK, partCols], 'f32');
  let part0 = 0;
  windows.forEach((win, i) => {
    const pw = perWindow[i]!;
    wgradPartsKernel.run({ dtype: x.dtype, KH, KW, COT }, {
      uniforms: dims(x.shape, win.count, wShape, o, { threads: rows * pw, parts: pw, chunk, part0, partCols }),
      buffers: { x: rowsOf(x, N, win), dy: rowsOf(dy, N, win), part }, grid: grid1d(rows * pw, WG),
    });
    part0 += pw;
  });
  const dw = sumRows(part, wShape);
  part.dispose();
  return dw;
}
