// The window-pooling template shared by max_pool.ts and avg_pool.ts (as elementwise.ts is one
// template for its family): geometry, thread plans and WGSL for forward and the gather backward.
//
// Geometry: a k×k window at stride s, MindSpore pad_mode='same': out = ceil(in / s), total padding
// max((out - 1)·s + k - in, 0), the smaller half at top/left (samePadding in engine/shape.ts). Every
// window holds at least one real pixel: the last starts at (out - 1)·s - pad_before < in, and
// pad_before <= (k - 1) / 2.
//
// A pool supplies a Reducer (how window pixels combine, and what a window passes back to a pixel);
// this file decides the thread mapping. On llvmpipe every storage access costs about the same per
// instruction whatever its width, so the fast 'strip' plans use 16-byte vector loads:
//   forward 'strip': one invocation per P outputs along a row of y; each of the k input rows under
//     them is read as ceil(((P - 1)·s + k) / L) vectors of L elements (3 vec4 for 3x3/2 and P = 4).
//   backward 'strip': one invocation per Q pixels along a row of dx (a gather: no atomics where
//     windows overlap); each of the <= ceil(k/s) output rows over them is read as vectors of L.
// Strips need pad_left = 0 and rows that split into whole vectors (see forwardPlan/backwardPlan);
// every other shape takes the 'flat' plan: one invocation per 16-byte vector of the output in flat
// NCHW order (so packed-half stores stay whole words even where a vector spans rows), scalar loads.
// The default plan is the cheapest by a cost model measured on llvmpipe; the autotuner may pick any
// other candidate per problem (choosePoolPlan), all of which give the default's bits.
import { grid1d, samePadding, type DType, type Expect, type Shape, type Tensor } from '../engine/index.ts';
import { defineKernel, input, output, type UniformFields, type Vec } from './kernel.ts';
import { WG, builtins, flatIndex, range } from './wgsl.ts';
import { choose, scratchRuns, variantHash, type Choice } from './tuning.ts';

/** Window options; ShuffleNetV1's pools are the defaults, 3x3 stride 2. */
export interface PoolOptions { kernel?: number; stride?: number }

export interface PoolGeometry {
  N: number; C: number; H: number; W: number; Ho: number; Wo: number;
  /** padding before the first row / column */
  pt: number; pl: number;
  k: number; s: number;
}

export function poolGeometry(xShape: Shape, opts: PoolOptions = {}): PoolGeometry {
  const [N, C, H, W] = xShape;
  const k = opts.kernel ?? 3, s = opts.stride ?? 2;
  const ph = samePadding(H, k, s), pw = samePadding(W, k, s);
  return { N, C, H, W, Ho: ph.out, Wo: pw.out, pt: ph.before, pl: pw.before, k, s };
}

/** k <= 16 keeps unrolled windows small and a window-local index inside 16 bits (max pool's f16 arg). */
export function checkPool(e: Expect, x: Tensor, opts: PoolOptions = {}): void {
  e.rank('x', x, 4);
  const { kernel = 3, stride = 2 } = opts;
  if (!(Number.isInteger(kernel) && kernel >= 1 && kernel <= 16)) e.fail(`kernel must be an integer in [1, 16], got ${kernel}`);
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= kernel)) e.fail(`stride must be an integer in [1, kernel=${kernel}], got ${stride}`);
  if (x.size === 0) e.fail(`x must not be empty, got [${x.shape.join(', ')}]`);
}

// ---- plans -------------------------------------------------------------------------------------

/**
 * Thread mapping: strips of n elements along R rows (R = 2 only for whole rows, n = the row length),
 * read with vector loads of L elements and written with stores of sw words; or flat (see header).
 */
export type Plan = { mode: 'strip'; n: number; R: number; L: number; sw: number } | { mode: 'flat' };

const FLAT: Plan = { mode: 'flat' };

const divisors = (n: number, cap: number) => Array.from({ length: Math.min(n, cap) }, (_, i) => i + 1).filter((d) => n % d === 0);
/** Largest of 4, 2, 1 dividing n: the widest vector of words an aligned group of n words allows. */
const pow2 = (n: number) => (n % 4 === 0 ? 4 : n % 2 === 0 ? 2 : 1);
/** Words in a load of L elements (an f16 load of one element still reads its word). */
const wordsPer = (dtype: DType, L: number) => (dtype === 'f32' ? L : Math.max(1, L / 2));
/** Widest load width in `widths` that divides every one of `ns`. */
const widest = (dtype: DType, ...ns: number[]) =>
  (dtype === 'f32' ? [4, 2, 1] : [8, 4, 2, 1]).find((l) => ns.every((n) => n % l === 0))!;

// The plans' cost model, per output element: on llvmpipe each storage access costs about one unit per
// instruction plus one per 32-bit word (measured: vec4 and scalar loads of the same words differ by
// the instruction count). Slots (accumulators per invocation) are capped where spills set in:
// measured at 16 slots with an arg (max pool forward) and past 28 without.
const SLOTS = { arg: 14, plain: 28 } as const;

/** A plan and its modelled cost per output element. */
type Costed = { plan: Plan; cost: number };
const cheapest = (all: Costed[]): Plan => all.reduce((a, b) => (b.cost < a.cost ? b : a), { plan: FLAT, cost: Infinity }).plan;

/** Forward strips: P outputs along a row (P | Wo) or R = 2 whole rows; loads of L | W, L | P·s. */
function forwardStrips(g: PoolGeometry, dtype: DType, arg: boolean): Costed[] {
  if (g.pl !== 0) return [];
  const f32 = dtype === 'f32', cap = arg ? SLOTS.arg : SLOTS.plain;
  const out: Costed[] = [];
  for (const P of divisors(g.Wo, cap)) {
    for (const R of P === g.Wo && 2 * P <= cap ? [1, 2] : [1]) {
      if (!f32 && (R * P) % 2 !== 0) continue; // halves are stored a word at a time
      const L = widest(dtype, g.W, P * g.s);
      if (!f32 && L === 1) continue;
      const loads = Math.ceil(((P - 1) * g.s + g.k) / L), words = f32 ? R * P : (R * P) / 2, sw = pow2(words);
      const cost = (R * g.k * loads * (wordsPer(dtype, L) + 1) + (words / sw) * (sw + 1) * (arg ? 2 : 1) + 2) / (R * P);
      out.push({ plan: { mode: 'strip', n: P, R, L, sw }, cost });
    }
  }
  return out;
}

/** Backward strips: Q pixels along a row of dx (Q | W, s | Q); dy (and arg) rows read as vectors of L | Wo, L | Q/s. */
function backwardStrips(g: PoolGeometry, dtype: DType, arg: boolean): Costed[] {
  if (g.pl !== 0) return [];
  const f32 = dtype === 'f32', rows = Math.ceil(g.k / g.s), lo = -Math.floor((g.k - 1) / g.s);
  const out: Costed[] = [];
  for (const Q of divisors(g.W, 16)) {
    if (Q % g.s !== 0 || (!f32 && Q % 2 !== 0)) continue;
    const L = widest(dtype, g.Wo, Q / g.s), hi = Math.floor((Q - 1) / g.s);
    const vecs = Math.floor(hi / L) - Math.floor(lo / L) + 1, words = f32 ? Q : Q / 2, sw = pow2(words);
    const select = !f32 && L === 1 ? 1 : 0; // an f16 element picked out of its word at run time
    const cost = (rows * vecs * (wordsPer(dtype, L) + 1 + select) * (arg ? 2 : 1) + (words / sw) * (sw + 1) + 2) / Q;
    out.push({ plan: { mode: 'strip', n: Q, R: 1, L, sw }, cost });
  }
  return out;
}

/** Forward's default: the cheapest strip by the cost model, else flat. */
export const forwardPlan = (g: PoolGeometry, dtype: DType, arg: boolean): Plan => cheapest(forwardStrips(g, dtype, arg));

/** Backward's default: the cheapest strip by the cost model, else flat. */
export const backwardPlan = (g: PoolGeometry, dtype: DType, arg: boolean): Plan => cheapest(backwardStrips(g, dtype, arg));

const samePlan = (a: Plan, b: Plan) => planKey(a) === planKey(b);

/**
 * The plans the tuner times, the default first. Forward: every strip and flat (each output folds its
 * window's pixels in row-major order whatever the plan, so all give the default's bits). Backward:
 * the strips (each pixel adds its windows' terms in the same order whatever the strip's length; flat
 * adds a row's two windows the other way round, so it is a candidate only where it is the default).
 */
export function poolPlanCandidates(kind: 'forward' | 'backward', g: PoolGeometry, dtype: DType, arg: boolean): Plan[] {
  const def = kind === 'forward' ? forwardPlan(g, dtype, arg) : backwardPlan(g, dtype, arg);
  const all = kind === 'forward' ? [...forwardStrips(g, dtype, arg).map((c) => c.plan), FLAT] : backwardStrips(g, dtype, arg).map((c) => c.plan);
  return [def, ...all.filter((p) => !samePlan(p, def))];
}

// A plan as a tuning choice (numbers only): flat is { strip: 0 }.
const planChoice = (p: Plan): Choice => (p.mode === 'flat' ? { strip: 0 } : { strip: 1, n: p.n, R: p.R, L: p.L, sw: p.sw });
const choicePlan = (c: Choice): Plan => (c.strip === 0 ? FLAT : { mode: 'strip', n: c.n!, R: c.R!, L: c.L!, sw: c.sw! });

/**
 * The plan for a pool problem: a tuned one for this shape on this adapter (kernels/tuning.ts) where
 * cached and still a candidate, else the cost model's. `run(plan)` dispatches the problem once on
 * scratch tensors (the tuner times it); `wgsl` is the kernel's source for a plan (the cache's staleness check).
 */
export function choosePoolPlan(t: {
  kernel: string; kind: 'forward' | 'backward'; g: PoolGeometry; dtype: DType; arg: boolean;
  wgsl: (p: Plan) => string;
  /** Scratch tensors for the tuner's runs, of the problem's dtype: inputs (zeros), then outputs. */
  inputs: Shape[]; outputs: Shape[]; run: (p: Plan, scratch: Tensor[]) => void;
}): Plan {
  const { g, dtype } = t;
  const plans = poolPlanCandidates(t.kind, g, dtype, t.arg), def = plans[0]!;
  const candidates = () => plans;
  if (plans.length < 2) return def; // nothing to choose (e.g. backward's flat plan)
  const c = choose<Choice>({
    kernel: t.kernel, shape: `${dtype} k${g.k}s${g.s} N${g.N} C${g.C} ${g.H}x${g.W}${t.arg ? ' arg' : ''}`, def: planChoice(def),
    text: `${t.kernel} ${dtype} ${g.k}x${g.k}/${g.s} [${g.N}, ${g.C}, ${g.H}, ${g.W}]${t.arg ? ' with arg' : ''}`,
    candidates: () => candidates().map(planChoice),
    valid: (c) => candidates().some((p) => planKey(p) === planKey(choicePlan(c))),
    source: () => variantHash(`${t.kernel} ${dtype} k${g.k}s${g.s}${t.arg ? ' arg' : ''} ${planKey(def)}`, () => t.wgsl(def)),
    open: scratchRuns(t.inputs.map((sh) => [sh, dtype] as const), t.outputs.map((sh) => [sh, dtype] as const), (c: Choice, scratch) => t.run(choicePlan(c), scratch)),
  });
  return choicePlan(c);
}

// ---- WGSL building blocks ----------------------------------------------------------------------

/** Both pool kernels' uniforms: the size of the grid a kernel walks, and the geometry. */
const GEOMETRY: UniformFields = { total: 'u32', H: 'u32', W: 'u32', Ho: 'u32', Wo: 'u32', pt: 'u32', pl: 'u32' };

export const uniformsOf = (g: PoolGeometry, total: number) => ({ total, H: g.H, W: g.W, Ho: g.Ho, Wo: g.Wo, pt: g.pt, pl: g.pl });

/** Workgroups for `total` elements of the kernel's output grid under `plan`. */
export const gridOf = (plan: Plan, dtype: DType, total: number) =>
  grid1d(Math.ceil(total / (plan.mode === 'strip' ? plan.R * plan.n : dtype === 'f32' ? 4 : 8)), WG);

/** Max pool's arg holds integers in y's layout: u32 per element for f32, u16 halves for f16. */
const argType = (dtype: DType) => (dtype === 'f32' ? 'u32' : 'u16');
/** Elements per load: L for strips, single elements for flat. */
const loadLen = (p: Plan) => (p.mode === 'strip' ? p.L : 1) as Vec;
/** Elements per store: sw words (4 for flat) of f32, or of two halves. */
const storeLen = (dtype: DType, p: Plan) => ((p.mode === 'strip' ? p.sw : 4) * (dtype === 'f32' ? 1 : 2)) as Vec;

const XYZW = 'xyzw';

/**
 * Loads vector `(e) / L` of buffer `name` (e a multiple of L) into `let <p>` and returns the WGSL
 * expressions of its L elements (f32 for floats, u32 for max pool's arg).
 */
function loadVec(name: string, L: number, p: string, e: string): { code: string; el: string[] } {
  const code = `let ${p} = ld_${name}(${L === 1 ? e : `(${e}) / ${L}u`});`;
  const el = L === 1 ? [p] : range(L).map((j) => (L === 8 ? `${p}[${j >> 2}].${XYZW[j & 3]}` : `${p}.${XYZW[j]}`));
  return { code, el };
}

/**
 * Stores values `vals` from element index `e` of buffer `name` as vectors of E elements (e a
 * multiple of E); with `guard`, only vectors starting below u.total (a vector that starts inside ends
 * at worst in the tensor's padding to 16 bytes). A vec-8 value is built from two vec4 columns.
 */
function storeVals(name: string, vals: string[], e: string, E: number, guard = false): string {
  return range(vals.length / E).map((i) => {
    const v = vals.slice(i * E, (i + 1) * E);
    const value = E === 1 ? v[0] : E === 8 ? `T_${name}(vec4(${v.slice(0, 4).join(', ')}), vec4(${v.slice(4).join(', ')}))` : `T_${name}(${v.join(', ')})`;
    const st = `st_${name}(${E === 1 ? e : `(${e}) / ${E}u`} + ${i}u, ${value});`;
    return guard ? `if (${e} + ${i * E}u < u.total) { ${st} }` : st;
  }).join('\n  ');
}

/** Real pixels of window o along one dimension of size n with padding p before (padded coordinates). */
const SPAN = (k: number, s: number) => /* wgsl */ `
fn span(o: u32, n: u32, p: u32) -> f32 { return f32(min(o * ${s}u + ${k}u, n + p) - max(o * ${s}u, p)); }`;

// ---- the template ------------------------------------------------------------------------------

/**
 * How a pool combines its window. Forward slots keep `acc[i]: f32` and `arg[i]: u32` (window-local
 * index kh·k + kw of the pixel taken): `first` starts slot i from the window's first real pixel in
 * row-major order (value v, index k), `take` folds in each later one, `result` is the slot's output.
 * Backward: `term` is what output (oh, ow) with gradient dy and saved arg `a` passes to its pixel at
 * window-local index k.
 */
export interface Reducer {
  name: string;
  first(i: string, v: string, k: string): string;
  take(i: string, v: string, k: string): string;
  result(i: string, oh: string, ow: string): string;
  term(dy: string, a: string, k: string, oh: string, ow: string): string;
  /** backward reads the saved arg tensor (max pool) */
  usesArg: boolean;
}

export type PoolSpec = { dtype: DType; k: number; s: number; plan: Plan; arg: boolean };

export const planKey = (p: Plan) => (p.mode === 'flat' ? 'flat' : `strip${p.R > 1 ? `${p.R}x` : ''}${p.n}L${p.L}s${p.sw}`);

/** Forward kernel of a pool: writes y, and arg (window-local argmax, integers) when spec.arg. */
export function forwardKernel(r: Reducer) {
  return defineKernel({
    name: r.name,
    variant: (s: PoolSpec) => `${s.dtype}/k${s.k}s${s.s}/${planKey(s.plan)}${s.arg ? '/arg' : ''}`,
    uniforms: GEOMETRY,
    buffers: (s) => {
      const E = storeLen(s.dtype, s.plan);
      return [input('x', s.dtype, loadLen(s.plan)), output('y', s.dtype, E), ...(s.arg ? [output('arg_out', argType(s.dtype), E)] : [])];
    },
    body: (s) => {
      const n = s.plan.mode === 'strip' ? s.plan.R * s.plan.n : s.dtype === 'f32' ? 4 : 8;
      const slots = `var acc: array<f32, ${n}>;\n  var arg: array<u32, ${n}>;`;
      const E = storeLen(s.dtype, s.plan);
      const guard = s.plan.mode === 'strip' && s.plan.R > 1; // the second row may not exist
      const stores = `${storeVals('y', range(n).map((i) => `acc[${i}]`), 'e0', E, guard)}
  ${s.arg ? storeVals('arg_out', range(n).map((i) => `arg[${i}]`), 'e0', E, guard) : ''}`;
      const head = SPAN(s.k, s.s);
      if (s.plan.mode === 'flat') {
        return /* wgsl */ `${head}
// one invocation per 16-byte vector of y (${n} outputs in flat order)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let e0 = (${flatIndex()}) * ${n}u;
  if (e0 >= u.total) { return; }
  ${slots}
  ${walk(n, 'u.Ho', 'u.Wo', `
    let ih0 = i32(h * ${s.s}u) - i32(u.pt);
    let iw0 = i32(w * ${s.s}u) - i32(u.pl);
    var seen = false;
    for (var kh = 0; kh < ${s.k}; kh++) {
      let ih = ih0 + kh;
      if (ih < 0 || ih >= i32(u.H)) { continue; }
      let row = (nc * u.H + u32(ih)) * u.W;
      for (var kw = 0; kw < ${s.k}; kw++) {
        let iw = iw0 + kw;
        if (iw < 0 || iw >= i32(u.W)) { continue; } // padding takes no part
        let v = ld_x(row + u32(iw));
        let k = u32(kh * ${s.k} + kw);
        if (seen) { ${r.take('j', 'v', 'k')} } else { ${r.first('j', 'v', 'k')} }
        seen = true;
      }
    }
    acc[j] = ${r.result('j', 'h', 'w')};`)}
  ${stores}
}`;
      }
      const { n: P, R, L } = s.plan;
      const cols = (P - 1) * s.s + s.k; // input columns under a strip
      const loads = range(Math.ceil(cols / L)).map((m) => loadVec('x', L, `x${m}`, `row + ${m * L}u`));
      const el = loads.flatMap((l) => l.el);
      // pad_left = 0 means total padding <= 1, so W >= (Wo - 1)·s + k - 1: only the strip's last
      // column can lie past the row (in the right padding), and only for the row's last strip. A
      // window's column 0 (ow·s < W) is always real, so the first real row starts every slot there.
      const takes = (o: number, firstRow: boolean) => range(P).flatMap((p) => range(s.k).map((kw) => {
        const c = p * s.s + kw, k = `kh * ${s.k}u + ${kw}u`, i = `${o + p}`;
        if (firstRow && kw === 0) return r.first(i, el[c], k);
        return c === cols - 1 ? `if (iw0 + ${c}u < u.W) { ${r.take(i, el[c], k)} }` : r.take(i, el[c], k);
      }));
      const rowBody = (o: number, firstRow: boolean) => `let row = (nc * u.H + oh * ${s.s}u + kh - u.pt) * u.W + iw0;
      ${loads.map((l) => l.code).join('\n      ')}
      ${takes(o, firstRow).join('\n      ')}`;
      // strip of output row ro starting at column ow0, into slots o ..
      const strip = (o: number) => `
    let oh = ro % u.Ho;
    let nc = ro / u.Ho;
    // window rows kh in [kh0, kh1) are real (padded row oh·s + kh in [pt, H + pt))
    let kh0 = select(0u, u.pt - oh * ${s.s}u, u.pt > oh * ${s.s}u);
    let kh1 = min(${s.k}u, u.H + u.pt - oh * ${s.s}u);
    {
      let kh = kh0;
      ${rowBody(o, true)}
    }
    for (var kh = kh0 + 1u; kh < kh1; kh++) {
      ${rowBody(o, false)}
    }
    ${range(P).map((p) => `acc[${o + p}] = ${r.result(`${o + p}`, 'oh', `ow0 + ${p}u`)};`).join('\n    ')}`;
      if (R === 1) {
        return /* wgsl */ `${head}
// one invocation per strip of ${P} outputs along a row of y
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  if (t >= u.total / ${P}u) { return; }
  let strips = u.Wo / ${P}u;
  let ro = t / strips;             // output row nc·Ho + oh
  let ow0 = (t - ro * strips) * ${P}u;
  let iw0 = ow0 * ${s.s}u;          // pad_left = 0
  let e0 = ro * u.Wo + ow0;
  ${slots}
  {${strip(0)}
  }
  ${stores}
}`;
      }
      return /* wgsl */ `${head}
// one invocation per ${R} whole rows of y (halves stay in whole words when Wo is odd)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  let rows = u.total / u.Wo;
  if (t * ${R}u >= rows) { return; }
  let ow0 = 0u;
  let iw0 = 0u;
  let e0 = t * ${R}u * u.Wo;
  ${slots}
  ${range(R).map((j) => `if (t * ${R}u + ${j}u < rows) {
    let ro = t * ${R}u + ${j}u;${strip(j * P)}
  }`).join('\n  ')}
  ${stores}
}`;
    },
  });
}

/** Backward kernel of a pool: dx from dy (and arg), gathering over the windows that hold each pixel. */
export function backwardKernel(r: Reducer) {
  return defineKernel({
    name: `${r.name}.backward`,
    variant: (s: PoolSpec) => `${s.dtype}/k${s.k}s${s.s}/${planKey(s.plan)}`,
    uniforms: GEOMETRY,
    buffers: (s) => {
      const L = loadLen(s.plan);
      return [input('dy', s.dtype, L), ...(r.usesArg ? [input('arg', argType(s.dtype), L)] : []), output('dx', s.dtype, storeLen(s.dtype, s.plan))];
    },
    body: (s) => {
      const NW = Math.ceil(s.k / s.s); // windows holding a pixel, per dimension, at most
      const n = s.plan.mode === 'strip' ? s.plan.n : s.dtype === 'f32' ? 4 : 8;
      const head = SPAN(s.k, s.s);
      const store = storeVals('dx', range(n).map((i) => `g[${i}]`), 'e0', storeLen(s.dtype, s.plan));
      if (s.plan.mode === 'flat') {
        return /* wgsl */ `${head}
// one invocation per 16-byte vector of dx (${n} pixels in flat order)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let e0 = (${flatIndex()}) * ${n}u;
  if (e0 >= u.total) { return; }
  var g: array<f32, ${n}>;
  ${walk(n, 'u.H', 'u.W', `
    let ph = h + u.pt; // padded position
    let pw = w + u.pl;
    for (var i = 0u; i < ${NW}u; i++) {
      let oh = ph / ${s.s}u - i;
      if (ph / ${s.s}u < i || oh >= u.Ho || ph - oh * ${s.s}u >= ${s.k}u) { continue; }
      for (var j2 = 0u; j2 < ${NW}u; j2++) {
        let ow = pw / ${s.s}u - j2;
        if (pw / ${s.s}u < j2 || ow >= u.Wo || pw - ow * ${s.s}u >= ${s.k}u) { continue; }
        let o = (nc * u.Ho + oh) * u.Wo + ow;
        g[j] += ${r.term('ld_dy(o)', r.usesArg ? 'ld_arg(o)' : '0u', `(ph - oh * ${s.s}u) * ${s.k}u + pw - ow * ${s.s}u`, 'oh', 'ow')};
      }
    }`)}
  ${store}
}`;
      }
      const { n: Q, L } = s.plan;
      // outputs ow0 + rel, rel in [lo, hi], have windows over the strip's pixels; vectors of L cover them
      const lo = -Math.floor((s.k - 1) / s.s), hi = Math.floor((Q - 1) / s.s);
      const vecs = range(Math.floor(hi / L) - Math.floor(lo / L) + 1).map((i) => (Math.floor(lo / L) + i) * L);
      const dyLoads = vecs.map((v) => loadVec('dy', L, `d${idx(v)}`, `orow + u32(max(i32(ow0) + ${v}, 0))`));
      const argLoads = r.usesArg ? vecs.map((v) => loadVec('arg', L, `a${idx(v)}`, `orow + u32(max(i32(ow0) + ${v}, 0))`)) : [];
      const at = (loads: { el: string[] }[], rel: number) => {
        const v = Math.floor(rel / L) * L;
        return loads[vecs.indexOf(v)].el[rel - v];
      };
      const rels = range(hi - lo + 1).map((i) => lo + i);
      const terms = range(Q).flatMap((q) => rels
        .filter((rel) => q - rel * s.s >= 0 && q - rel * s.s < s.k)
        .map((rel) => `g[${q}] += select(0.0, ${r.term(at(dyLoads, rel), r.usesArg ? at(argLoads, rel) : '0u', `kh * ${s.k}u + ${q - rel * s.s}u`, 'oh', `u32(i32(ow0) + ${rel})`)}, ok${idx(rel)});`));
      return /* wgsl */ `${head}
// one invocation per strip of ${Q} pixels along a row of dx
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let t = ${flatIndex()};
  if (t >= u.total / ${Q}u) { return; }
  let strips = u.W / ${Q}u;
  let ri = t / strips;             // input row nc·H + ih
  let iw0 = (t - ri * strips) * ${Q}u;
  let ph = ri % u.H + u.pt;        // padded row
  let nc = ri / u.H;
  let ow0 = iw0 / ${s.s}u;          // pad_left = 0
  let e0 = ri * u.W + iw0;
  ${rels.map((rel) => `let ok${idx(rel)} = i32(ow0) + ${rel} >= 0 && i32(ow0) + ${rel} < i32(u.Wo);`).join('\n  ')}
  var g: array<f32, ${Q}>;
  for (var i = 0u; i < ${NW}u; i++) {
    if (ph / ${s.s}u < i) { break; }
    let oh = ph / ${s.s}u - i;
    let kh = ph - oh * ${s.s}u;
    if (oh >= u.Ho || kh >= ${s.k}u) { continue; }
    let orow = (nc * u.Ho + oh) * u.Wo;
    ${[...dyLoads, ...argLoads].map((l) => l.code).join('\n    ')}
    ${terms.join('\n    ')}
  }
  ${store}
}`;
    },
  });
}

/** WGSL identifier suffix for a possibly negative offset. */
const idx = (v: number) => (v < 0 ? `m${-v}` : `${v}`);

/**
 * WGSL statements visiting elements e0 .. e0 + V - 1 (those below u.total) of an [NC, Hd, Wd] grid,
 * with `j` the element's slot and (nc, h, w) its coordinates: one division, then steps of one.
 */
function walk(V: number, Hd: string, Wd: string, body: string): string {
  return `var w = e0 % ${Wd};
  let r0 = e0 / ${Wd};
  var h = r0 % ${Hd};
  var nc = r0 / ${Hd};
  for (var j = 0u; j < ${V}u; j++) {
    if (e0 + j < u.total) { ${body} }
    w += 1u;
    if (w == ${Wd}) { w = 0u; h += 1u; if (h == ${Hd}) { h = 0u; nc += 1u; } }
  }`;
}
