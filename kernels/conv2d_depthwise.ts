// Depthwise 3x3 convolution (groups = C), NCHW, stride 1|2, padding 1: ShuffleNet's only depthwise shape.
//   y[n, c, oh, ow] = Σ_kh,kw x[n, src(c), oh·s + kh − 1, ow·s + kw − 1] · w[c, 0, kh, kw]
// src(c) = c, or with `shuffleGroups` G the channel shuffle's source (kernels/channel_shuffle.ts), so the
// shuffle in front of ShuffleNet's depthwise conv costs no copy. PyTorch Conv2d(C, C, 3, s, 1, groups=C).
// x, y (and dy, dx) are f32 or packed f16; w [C, 1, 3, 3] and dw are f32; all sums are f32.
// Backward:
//   dgrad gathers dy through the same window, for dx of x's channel k (conv channel c = src⁻¹(k)):
//     dx[n, k, ih, iw] = Σ_{kh,kw: s | ih+1−kh, s | iw+1−kw} dy[n, c, (ih+1−kh)/s, (iw+1−kw)/s] · w[c, kh, kw]
//   so dx lands in x's (unshuffled) channel order;
//   wgrad: dw[c, kh, kw] = Σ_{n, oh, ow} dy[n, c, oh, ow] · x[n, src(c), oh·s + kh − 1, ow·s + kw − 1], in two
//   passes: one invocation per (c, n, band of rows) writes its 9 partial sums into row (n, band) of
//   [N·bands, C·9], then reduce.ts's sumColumns adds them per weight, in (n, band) order.
// Speed (llvmpipe): each storage load or store instruction costs a loop over the SIMD lanes, a vec4 one
// little more than a scalar one, while arithmetic is cheap. So an invocation owns a band of R output rows
// of one plane and walks it left to right in tiles of V columns, sliding its window: each input element
// is loaded once per band (in aligned vectors of up to 4 f32 or 8 halves), each output stored once.
// f16 rows of odd width cannot be stored as whole pairs per row: those use one invocation per output pair.
// Batches over the storage binding limit run in windows of whole images (kernels/windows.ts), w bound
// whole. wgrad's windows write their images' rows of the one partial-sum buffer, so its sums are added
// in the same order as for the whole batch; that buffer is itself windowed where it is over the limit.
// Forward and dgrad tiles are tunable per shape (kernels/tuning.ts); wgrad keeps its default, as its
// bands decide the order in which the partial sums are added.
import { Tensor, bindingLimit, grid1d, type Binding, type DType, type Shape } from '../engine/index.ts';
import { defineKernel, input, output, type Vec } from './kernel.ts';
import { WG, builtins, flatIndex, range, pairMain } from './wgsl.ts';
import { shuffleSrcWgsl } from './channel_shuffle.ts';
import { sumColumns } from './reduce.ts';
import { batchWindows, rowsOf } from './windows.ts';
import { choose, scratchRuns, variantHash, type Choice } from './tuning.ts';

type Stride = 1 | 2;
type Kind = 'forward' | 'dgrad' | 'wgrad';
/**
 * Band mode: R x V output tiles, input loaded in vectors of Ein elements, output (wgrad: dy) in vectors
 * of Eout. R = 0: pairs mode, one invocation per output pair (f16 rows of odd width), Ein = Eout = 1.
 */
type Spec = { kind: Kind; dtype: DType; stride: Stride; shuffle: boolean; R: number; V: number; Ein: Vec; Eout: Vec };

/** A tap of a 1-D window: output o of the tile reads window index i through kernel tap k. */
type Tap = { o: number; k: number; i: number };

/**
 * Rows: the band's input span starts at row o0·s − 1 (forward, wgrad), o0 − 1 (dgrad s = 1) or o0 / 2
 * (dgrad s = 2, o0 even); dgrad row o0 + o takes dy row (o0 + o + 1 − k) / s where s divides it.
 */
const rowTaps = (kind: Kind, n: number, st: Stride): Tap[] => range(n).flatMap((o) => range(3).flatMap((k) =>
  kind !== 'dgrad' ? [{ o, k, i: o * st + k }]
    : st === 1 ? [{ o, k, i: o + 2 - k }]
      : (o + 1 - k) % 2 === 0 ? [{ o, k, i: (o + 1 - k) / 2 }] : []));

/** Columns: window index i is input column b − 1 + i, b = the tile's first input column. */
const colTaps = (kind: Kind, n: number, st: Stride): Tap[] => range(n).flatMap((o) => range(3).flatMap((k) =>
  kind !== 'dgrad' ? [{ o, k, i: o * st + k }]
    : st === 1 ? [{ o, k, i: o + 2 - k }]
      : (o + 1 - k) % 2 === 0 ? [{ o, k, i: (o + 1 - k) / 2 + 1 }] : []));

/** Input columns consumed per tile of V outputs. */
const stepOf = (kind: Kind, V: number, st: Stride) => (kind !== 'dgrad' ? V * st : st === 1 ? V : V / 2);

/**
 * Statements loading E elements of `name` (a buffer declared with vec E) at column `col` of the row
 * starting at `rb` (row width `width`, a multiple of E; zero when !ok or col >= width) into f32 lets
 * `${out}_0..E-1`. The index is clamped, so the load itself is unconditional. The guard is `&`, not
 * `&&`: a short-circuit `&&` is a branch, and SwiftShader's compile time doubles with about every
 * branch more in one loop body (a 4x4 tile's 24 guarded loads: 0.2 s with `&`, over 100 s with `&&`).
 */
function loadGroup(name: string, E: Vec, rb: string, col: string, ok: string, width: string, out: string): string {
  const valid = `(${ok}) & (${col} < ${width})`;
  if (E === 1) return `let ${out}_0 = select(0.0, ld_${name}(${rb} + min(${col}, ${width} - 1u)), ${valid});`;
  const ld = `ld_${name}((${rb} + min(${col}, ${width} - ${E}u)) / ${E}u)`;
  if (E < 8) return `let ${out} = select(vec${E}f(0.0), ${ld}, ${valid}); ` + range(E).map((j) => `let ${out}_${j} = ${out}[${j}];`).join(' ');
  // vec 8 (16 bytes of halves) comes as a mat2x4f: columns 0..3 and 4..7
  return `let ${out}m = ${ld}; let ${out}k = ${valid}; ` + range(2).map((c) => `let ${out}h${c} = select(vec4f(0.0), ${out}m[${c}], ${out}k);`).join(' ')
    + ' ' + range(8).map((j) => `let ${out}_${j} = ${out}h${j >> 2}[${j & 3}];`).join(' ');
}

/** Store f32 values vals (E of them) at element index `at` (a multiple of E) of `name` (declared with vec E). */
const storeGroup = (name: string, E: Vec, at: string, vals: string[]) =>
  `st_${name}(${E === 1 ? at : `(${at}) / ${E}u`}, T_${name}(${vals.join(', ')}));`;

const channelMaps = (s: Spec) => `
// conv channel c reads x channel src(c); x channel k receives the dgrad of conv channel inv(k)
fn src(c: u32) -> u32 { return ${s.shuffle ? shuffleSrcWgsl('c', 'u.C', 'u.G') : 'c'}; }
fn inv(k: u32) -> u32 { return ${s.shuffle ? '(k % u.G) * (u.C / u.G) + k / u.G' : 'k'}; }`;

/**
 * The band kernels. One invocation per (n, channel, band of R output rows); the loop walks the band in
 * tiles of V output columns. Per used window row ri it keeps the column before the tile (cr), and for
 * windows that reach one column past the tile's inputs (look = 1) the previous step's loads (pr), so
 * the tile is computed one load behind.
 */
function bandWgsl(s: Spec): string {
  const { kind, stride: st, R, V, Ein, Eout } = s;
  const rt = rowTaps(kind, R, st), ct = colTaps(kind, V, st);
  const step = stepOf(kind, V, st);
  const L = Math.max(...ct.map((t) => t.i)) + 1;
  const look = L - 1 - step;
  const rows = [...new Set(rt.map((t) => t.i))].sort((a, b) => a - b);
  const dg = kind === 'dgrad';
  const [inName, inH, inW, outH, outW] = dg ? ['dy', 'u.Ho', 'u.Wo', 'u.H', 'u.W'] : ['x', 'u.H', 'u.W', 'u.Ho', 'u.Wo'];
  const win = (ri: number, i: number) => (i === 0 ? `cr${ri}` : look ? (i <= step ? `pr${ri}_${i - 1}` : `ld${ri}_0`) : `ld${ri}_${i - 1}`);
  const loadRow = (ri: number, col: string, out: string) =>
    range(step / Ein).map((g) => loadGroup(inName, Ein, `rb${ri}`, `${col} + ${g * Ein}u`, `ok${ri}`, inW, `${out}g${g}`)
      + ' ' + range(Ein).map((j) => `let ${out}_${g * Ein + j} = ${out}g${g}_${j};`).join(' ')).join('\n    ');
  const r0 = kind !== 'dgrad' ? `i32(o0 * ${st}u) - 1` : st === 1 ? 'i32(o0) - 1' : 'i32(o0 / 2u)';

  // per tile: the computation and its output
  let tile: string;
  if (kind === 'wgrad') {
    const dyLoads = range(R).map((r) => range(V / Eout).map((g) =>
      loadGroup('dy', Eout, `yb + ${r}u * u.Wo`, `o0c + ${g * Eout}u`, `o0 + ${r}u < u.Ho`, 'u.Wo', `d${r}g${g}`)
      + ' ' + range(Eout).map((j) => `let d${r}_${g * Eout + j} = d${r}g${g}_${j};`).join(' ')).join('\n    ')).join('\n    ');
    const sums = range(3).map((kh) => range(3).map((kw) => {
      const terms = rt.filter((t) => t.k === kh).flatMap((r) => ct.filter((c) => c.k === kw).map((c) => `d${r.o}_${c.o} * ${win(r.i, c.i)}`));
      return `s${kh * 3 + kw} += ${terms.join(' + ')};`;
    }).join(' ')).join('\n    ');
    tile = `${dyLoads}
    ${sums}`;
  } else {
    const accs = range(R).map((r) => range(V).map((o) => {
      const terms = rt.filter((t) => t.o === r).flatMap((rr) => ct.filter((c) => c.o === o).map((c) => [win(rr.i, c.i), `w${rr.k * 3 + c.k}`]));
      return `let a${r}_${o} = ${terms.reduce((acc, [v, wk]) => `fma(${v}, ${wk}, ${acc})`, '0.0')};`;
    }).join('\n    ')).join('\n    ');
    const out = dg ? 'dx' : 'y';
    const stores = range(R).map((r) => `if (o0 + ${r}u < ${outH}) {
      ${range(V / Eout).map((g) => `if (o0c + ${g * Eout}u < ${outW}) { ${storeGroup(out, Eout, `ob + (o0 + ${r}u) * ${outW} + o0c + ${g * Eout}u`, range(Eout).map((j) => `a${r}_${g * Eout + j}`))} }`).join('\n      ')}
    }`).join('\n    ');
    tile = `${accs}
    ${stores}`;
  }

  const setup = kind === 'wgrad'
    ? `let band = t % u.bands;
  let n = (t / u.bands) % u.N;
  let c = t / (u.bands * u.N);
  let inPlane = (n * u.C + src(c)) * u.H * u.W;
  let o0 = band * ${R}u;
  let yb = ((n * u.C + c) * u.Ho + o0) * u.Wo;
  ${range(9).map((i) => `var s${i} = 0.0;`).join(' ')}`
    : `let band = t % u.bands;
  let c = (t / u.bands) % u.C;
  let n = t / (u.bands * u.C);
  let cc = ${dg ? 'inv(c)' : 'c'};
  let inPlane = (n * u.C + ${dg ? 'cc' : 'src(c)'}) * ${dg ? 'u.Ho * u.Wo' : 'u.H * u.W'};
  let ob = (n * u.C + c) * ${outH} * ${outW};
  let o0 = band * ${R}u;
  ${range(9).map((i) => `let w${i} = w[cc * 9u + ${i}u];`).join(' ')}`;

  return /* wgsl */ `${channelMaps(s)}
// one invocation per (n, channel, band of ${R} output rows), walking the band in tiles of ${V} columns
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  if (t >= u.threads) { return; }
  ${setup}
  let r0 = ${r0};
  ${rows.map((ri) => `let ok${ri} = r0 + ${ri} >= 0 && r0 + ${ri} < i32(${inH}); let rb${ri} = inPlane + u32(clamp(r0 + ${ri}, 0, i32(${inH}) - 1)) * ${inW}; var cr${ri} = 0.0;`).join('\n  ')}
  ${look ? rows.map((ri) => `${loadRow(ri, '0u', `q${ri}`)}
  ${range(step).map((j) => `var pr${ri}_${j} = q${ri}_${j};`).join(' ')}`).join('\n  ') : ''}
  for (var tile = 0u; tile < u.tiles; tile++) {
    let o0c = tile * ${V}u;
    let b = tile * ${step}u;
    ${rows.map((ri) => loadRow(ri, look ? `b + ${step}u` : 'b', `ld${ri}`)).join('\n    ')}
    ${tile}
    ${rows.map((ri) => `cr${ri} = ${look ? `pr${ri}_${step - 1}` : `ld${ri}_${step - 1}`};${look ? ' ' + range(step).map((j) => `pr${ri}_${j} = ld${ri}_${j};`).join(' ') : ''}`).join('\n    ')}
  }${kind === 'wgrad' ? `
  let pb = ((u.n0 + n) * u.bands + band) * u.C * 9u + c * 9u;
  ${range(9).map((i) => `part[pb + ${i}u] = s${i};`).join(' ')}` : ''}
}`;
}

/** Pairs mode (f16 rows of odd width): one invocation per pair of output elements, each a plain 9-tap sum. */
function pairsWgsl(s: Spec): string {
  const st = s.stride, dg = s.kind === 'dgrad';
  const out = dg ? 'dx' : 'y';
  const one = dg ? `
fn one(e: u32) -> f32 {
  let iw = e % u.W;
  let r = e / u.W;
  let ih = r % u.H;
  let c = inv((r / u.H) % u.C);
  let plane = ((r / (u.H * u.C)) * u.C + c) * u.Ho * u.Wo;
  var acc = 0.0;
  for (var kh = 0u; kh < 3u; kh++) {
    let qh = i32(ih + 1u) - i32(kh);
    if (qh < 0${st === 2 ? ' || (qh & 1) == 1' : ''} || qh / ${st} >= i32(u.Ho)) { continue; }
    for (var kw = 0u; kw < 3u; kw++) {
      let qw = i32(iw + 1u) - i32(kw);
      if (qw < 0${st === 2 ? ' || (qw & 1) == 1' : ''} || qw / ${st} >= i32(u.Wo)) { continue; }
      acc = fma(ld_dy(plane + u32(qh / ${st}) * u.Wo + u32(qw / ${st})), w[c * 9u + kh * 3u + kw], acc);
    }
  }
  return acc;
}` : `
fn one(e: u32) -> f32 {
  let ow = e % u.Wo;
  let r = e / u.Wo;
  let oh = r % u.Ho;
  let c = (r / u.Ho) % u.C;
  let plane = ((r / (u.Ho * u.C)) * u.C + src(c)) * u.H * u.W;
  var acc = 0.0;
  for (var kh = 0u; kh < 3u; kh++) {
    let ih = i32(oh * ${st}u + kh) - 1;
    if (ih < 0 || ih >= i32(u.H)) { continue; }
    for (var kw = 0u; kw < 3u; kw++) {
      let iw = i32(ow * ${st}u + kw) - 1;
      if (iw < 0 || iw >= i32(u.W)) { continue; }
      acc = fma(ld_x(plane + u32(ih) * u.W + u32(iw)), w[c * 9u + kh * 3u + kw], acc);
    }
  }
  return acc;
}`;
  return /* wgsl */ `${channelMaps(s)}
${one}
// u.threads = element count
${pairMain(out, 'one', 'u.threads')}`;
}

/**
 * Buffers: forward x, w -> y; dgrad dy, w -> dx; wgrad x, dy -> part. Pairs mode accesses single elements.
 * N counts the window's images (wgrad: image n's partial sums are part's rows of image n0 + n).
 */
const kernel = defineKernel({
  name: 'conv2d_depthwise',
  variant: (s: Spec) => `${s.kind}/${s.dtype}/s${s.stride}${s.shuffle ? '/shuffled' : ''}/` + (s.R ? `${s.R}x${s.V}/in${s.Ein}/out${s.Eout}` : 'pairs'),
  uniforms: { threads: 'u32', tiles: 'u32', bands: 'u32', N: 'u32', C: 'u32', H: 'u32', W: 'u32', Ho: 'u32', Wo: 'u32', G: 'u32', n0: 'u32' },
  buffers: (s) => {
    if (s.kind === 'wgrad') return [input('x', s.dtype, s.Ein), input('dy', s.dtype, s.Eout), output('part', 'f32')];
    const dg = s.kind === 'dgrad';
    return [input(dg ? 'dy' : 'x', s.dtype, s.Ein), input('w', 'f32'), output(dg ? 'dx' : 'y', s.dtype, s.Eout)];
  },
  body: (s) => (s.R ? bandWgsl(s) : pairsWgsl(s)),
});

const outSize = (n: number, stride: Stride) => Math.floor((n - 1) / stride) + 1; // (n + 2·1 − 3) / s + 1

/** Default tile (rows x columns) per kernel kind and dtype; f16 steps 8 columns to load whole vec4u words. */
const TILE: Record<DType, Record<Kind, { R: number; V: number }>> = {
  f32: { forward: { R: 4, V: 4 }, dgrad: { R: 4, V: 8 }, wgrad: { R: 4, V: 4 } },
  f16: { forward: { R: 4, V: 8 }, dgrad: { R: 4, V: 8 }, wgrad: { R: 4, V: 8 } },
};

/** Widest vector (elements) that divides the row width and the per-step count: f32 up to 4, f16 up to 8. */
function widest(dtype: DType, width: number, per: number): Vec {
  for (const E of dtype === 'f32' ? [4, 2, 1] as const : [8, 4, 2, 1] as const) if (width % E === 0 && per % E === 0) return E;
  return 1;
}

/** A band kernel's tile: R output rows x V output columns per step. */
export type DepthwiseTile = { R: number; V: number };

/**
 * The default tile for `kind` producing (wgrad: reading dy) an outH x outW plane: small planes take one
 * tile per row or one band per plane, so no invocation computes padding.
 */
function defaultTile(kind: Kind, dtype: DType, stride: Stride, outW: number, outH: number): DepthwiseTile {
  const halves = kind === 'dgrad' && stride === 2; // dx tiles start at even rows and columns
  let { R, V } = TILE[dtype][kind];
  if (outW <= 2 * V && outW * R <= 32 && (outW % 2 === 0 || (!halves && dtype === 'f32'))) V = outW;
  if (outH <= 2 * R && outH * V <= 32 && (outH % 2 === 0 || !halves)) R = outH;
  return { R, V };
}

/** The band kernel with tile t, reading rows of width inW and producing (wgrad: reading dy) rows of width outW. */
function bandSpec(kind: Kind, dtype: DType, stride: Stride, shuffle: boolean, inW: number, outW: number, { R, V }: DepthwiseTile): Spec {
  const Eout = widest(dtype, outW, V);
  return { kind, dtype, stride, shuffle, R, V, Ein: widest(dtype, inW, stepOf(kind, V, stride)), Eout: kind !== 'wgrad' && dtype === 'f16' && Eout === 1 ? 2 : Eout };
}

/** f16 forward and dgrad rows of odd width store single halves: pairs mode, no tile. */
const pairsMode = (kind: Kind, dtype: DType, outW: number) => kind !== 'wgrad' && dtype === 'f16' && outW % 2 === 1;

/**
 * The kernel for `kind` reading rows of width inW and producing (wgrad: reading dy) an outH x outW plane,
 * with the default tile (wgrad: its bands decide the order of the sums).
 */
function specFor(kind: Kind, dtype: DType, stride: Stride, shuffleGroups: number, inW: number, outW: number, outH: number): Spec {
  const shuffle = shuffleGroups > 1;
  if (pairsMode(kind, dtype, outW)) return { kind, dtype, stride, shuffle, R: 0, V: 0, Ein: 1, Eout: 1 };
  return bandSpec(kind, dtype, stride, shuffle, inW, outW, defaultTile(kind, dtype, stride, outW, outH));
}

/**
 * Tiles the tuner times for forward and dgrad (each output is the same 9-tap fma chain whatever the
 * tile, so all give the default's bits): the default, then 1-8 rows x 2-8 columns of at most 32
 * outputs (compile time), even rows where dx tiles must start on even rows, even columns (f16 pairs).
 */
export function depthwiseTileCandidates(kind: 'forward' | 'dgrad', dtype: DType, stride: Stride, outW: number, outH: number): DepthwiseTile[] {
  const out = [defaultTile(kind, dtype, stride, outW, outH)];
  for (const R of [1, 2, 4, 8]) for (const V of [2, 4, 8]) {
    if (validTile(kind, stride)({ R, V }) && !out.some((t) => t.R === R && t.V === V)) out.push({ R, V });
  }
  return out;
}
const validTile = (kind: Kind, stride: Stride) => (c: Choice): boolean => Object.keys(c).sort().join() === 'R,V' &&
  [1, 2, 4, 8].includes(c.R!) && [2, 4, 8].includes(c.V!) && c.R! * c.V! <= 32 && !(kind === 'dgrad' && stride === 2 && c.R! % 2 === 1);

/**
 * The forward or dgrad kernel for a problem: pairs mode, or the band kernel with `tile` (tests), a tuned
 * tile for this shape on this adapter (kernels/tuning.ts), or the default.
 */
function chooseSpec(kind: 'forward' | 'dgrad', src: Tensor, xShape: Shape, stride: Stride, G: number, outW: number, outH: number, tile?: DepthwiseTile): Spec {
  const { dtype } = src, inW = src.shape[3], shuffle = G > 1;
  if (pairsMode(kind, dtype, outW)) return specFor(kind, dtype, stride, G, inW, outW, outH);
  const spec = (t: DepthwiseTile) => bandSpec(kind, dtype, stride, shuffle, inW, outW, t);
  if (tile) return spec(tile);
  const def = defaultTile(kind, dtype, stride, outW, outH);
  const [N, C, H, W] = xShape;
  const t = choose<DepthwiseTile>({
    kernel: 'conv2d_depthwise', shape: `${kind} ${dtype} s${stride} G${G} N${N} C${C} ${H}x${W}`, def,
    text: `depthwise ${kind} ${dtype} s${stride} [${N}, ${C}, ${H}, ${W}]${shuffle ? ` shuffled ${G}` : ''}`,
    candidates: () => depthwiseTileCandidates(kind, dtype, stride, outW, outH),
    valid: validTile(kind, stride),
    source: () => variantHash(`${kernel.name}/${JSON.stringify(spec(def))}`, () => kernel.wgsl(spec(def))),
    open: scratchRuns([[src.shape, dtype], [[C, 1, 3, 3], 'f32']], [[kind === 'forward' ? [N, C, outH, outW] : xShape, dtype]], (c, [a, w, b]) => gather(spec(c), xShape, G, a!, w!, b!)),
  });
  return spec(t);
}

/**
 * The kernel's uniforms: x's shape with N images (a window's), the output plane and the launch's counts
 * (0 where a kind has none).
 */
function dims(xShape: Shape, N: number, stride: Stride, G: number, d: { threads: number; tiles?: number; bands?: number; n0?: number }) {
  const [, C, H, W] = xShape;
  return { threads: d.threads, tiles: d.tiles ?? 0, bands: d.bands ?? 0, n0: d.n0 ?? 0, N, C, H, W, Ho: outSize(H, stride), Wo: outSize(W, stride), G };
}

/** Run a forward or dgrad kernel producing `out` of shape [N, C, outH, outW], in windows of the batch. */
function gather(s: Spec, xShape: Shape, G: number, src: Tensor, w: Tensor, out: Tensor): void {
  const [N, C, outH, outW] = out.shape;
  for (const win of batchWindows(`conv2d_depthwise.${s.kind}`, N, [src, out])) {
    const [a, b] = [rowsOf(src, N, win), rowsOf(out, N, win)];
    const buffers: Record<string, Binding> = s.kind === 'dgrad' ? { dy: a, w, dx: b } : { x: a, w, y: b };
    if (!s.R) {
      const total = win.count * C * outH * outW;
      kernel.run(s, { uniforms: dims(xShape, win.count, s.stride, G, { threads: total }), buffers, grid: grid1d(Math.ceil(total / 2), WG) });
      continue;
    }
    const bands = Math.ceil(outH / s.R), threads = win.count * C * bands;
    kernel.run(s, {
      uniforms: dims(xShape, win.count, s.stride, G, { threads, bands, tiles: Math.ceil(outW / s.V) }),
      buffers, grid: grid1d(threads, WG),
    });
  }
}

/** y = depthwise3x3(shuffle(x, shuffleGroups), w): x [N, C, H, W], w [C, 1, 3, 3] f32; y has x's dtype. `tile`: tests. */
export function depthwiseForward(x: Tensor, w: Tensor, stride: Stride, shuffleGroups = 1, tile?: DepthwiseTile): Tensor {
  const [N, C, H, W] = x.shape;
  const y = Tensor.empty([N, C, outSize(H, stride), outSize(W, stride)], x.dtype);
  gather(chooseSpec('forward', x, x.shape, stride, shuffleGroups, y.shape[3], y.shape[2], tile), x.shape, shuffleGroups, x, w, y);
  return y;
}

/** dx [xShape] (x's channel order, dy's dtype) from dy [N, C, Ho, Wo] and w [C, 1, 3, 3]. `tile`: tests. */
export function depthwiseDgrad(dy: Tensor, w: Tensor, xShape: Shape, stride: Stride, shuffleGroups = 1, tile?: DepthwiseTile): Tensor {
  const dx = Tensor.empty(xShape, dy.dtype);
  gather(chooseSpec('dgrad', dy, xShape, stride, shuffleGroups, xShape[3], xShape[2], tile), xShape, shuffleGroups, dy, w, dx);
  return dx;
}

/** dw [C, 1, 3, 3] f32 from x [N, C, H, W] and dy [N, C, Ho, Wo] (same dtype). */
export function depthwiseWgrad(x: Tensor, dy: Tensor, stride: Stride, shuffleGroups = 1): Tensor {
  const [N, C, , W] = x.shape;
  const [, , Ho, Wo] = dy.shape;
  const s = specFor('wgrad', x.dtype, stride, shuffleGroups, W, Wo, Ho);
  const bands = Math.ceil(Ho / s.R);
  // one row per (image, band): each window fills its images' rows, of part bound whole (rows from image
  // n0 = the window's first), or where part is over the binding limit too, of its own window of part
  const part = Tensor.empty([N * bands, C * 9], 'f32');
  const partFits = Math.ceil(part.byteLength / 16) * 16 <= bindingLimit();
  for (const win of batchWindows('conv2d_depthwise.wgrad', N, partFits ? [x, dy] : [x, dy, part])) {
    const threads = C * win.count * bands;
    kernel.run(s, {
      uniforms: dims(x.shape, win.count, stride, shuffleGroups, { threads, bands, n0: partFits ? win.first : 0, tiles: Math.ceil(Wo / s.V) }),
      buffers: { x: rowsOf(x, N, win), dy: rowsOf(dy, N, win), part: partFits ? part : rowsOf(part, N, win) }, grid: grid1d(threads, WG),
    });
  }
  const dw = sumColumns(part, [C, 1, 3, 3]);
  part.dispose();
  return dw;
}
