// Batch normalisation over N, H, W per channel of x [N, C, H, W] (PyTorch BatchNorm2d semantics),
// optionally with what follows it fused in: a ReLU, or a residual add then a ReLU (ShuffleNet's
// stride-1 unit tail, relu(bn(x) + r): one pass instead of normalize + add, as cuDNN's BN-add-ReLU).
//   training: mean, var = batch mean and biased variance of channel c over its n = N·H·W values
//             y = gamma·(x - mean)/sqrt(var + eps) + beta        (then max(y, 0) if relu)
//             running = (1 - momentum)·running + momentum·batch, in place, where the running variance
//             takes the UNBIASED batch variance var·n/(n-1) (PyTorch; MindSpore's momentum 0.9 on the
//             running value is the same update)
//   eval:     the same y with the running statistics; nothing is updated.
// Statistics are Welford/Chan merges of (count, mean, M2) about a per-channel pivot K = x[0, c, 0, 0]:
// every value is taken as x - K, so an input like 1000 + N(0, 1) loses neither the variance (no
// E[x²] - E[x]² cancellation) nor the mean's low bits (mean = K + m, m small and accurate in f32).
// Forward: a reduction dispatch gives (count, mean, M2) per (channel, chunk of its N·H·W values); a
// finalize dispatch (one invocation per channel) merges the chunks into stats f32 [C, 4] =
// (K, m, invstd, n) and updates the running statistics (eval mode: stats from the running ones);
// normalize writes y = fma(x - K, scale, shift), scale = gamma·invstd, shift = beta - m·scale.
// Backward (dy' = dy·[y > 0] when relu is fused, the mask recomputed from x exactly as forward
// rounded y): a reduction + finalize give dgamma = Σ dy'·xhat, dbeta = Σ dy' and per-channel k, then
//   training: dx = gamma·invstd/n · (n·dy' - Σdy' - xhat·Σ(dy'·xhat))     eval: dx = gamma·invstd·dy'
// is written as dx = k1·dy' + k2·(x - K - m) + k3. The residual tail's backward is the unfused one:
// dy' = dy·[y > 0] from the output kept (elementwise.ts's reluBackward, which streams at copy speed;
// recomputing the mask inside the BN passes made them read r and write dr, and measured slower on
// lavapipe than the pass it saved), then the plain backward, and dr = dy'. The reductions' shape is
// the adapter's (a CPU's or a GPU's, reduction_shape.ts); the elementwise passes take tuned launch
// shapes.
// Binding windows (kernels/windows.ts): when x is over the storage binding limit every pass runs over
// windows of whole images. Each reduction window writes its chunks' partials into one shared partial
// buffer at its own chunk offset, all about image 0's pivot, and the one finalize merges them all.
import { Tensor, defineOp, grid1d, type DType, type Expect } from '../engine/index.ts';
import { defineKernel, input, output, subgroupsEnabled } from './kernel.ts';
import { builtins } from './wgsl.ts';
import { reluBackward } from './elementwise.ts';
import { SUBGROUP_BUILTINS, workgroupReduce } from './workgroup_reduce.ts';
import { batchWindows, rowsOf, type Window } from './windows.ts';
import { reductionShape, type ReductionShape } from './reduction_shape.ts';
import { DEFAULT_LAUNCH, chooseLaunch, launchGrid, launchMain, launchVariant, type LaunchShape } from './launch_shape.ts';

const OP = 'batchNorm';

// The ReLU mask as forward stored y (y has x's dtype): round_x rounds as x's storage does, so a tiny
// positive f32 that an f16 store made 0 is masked as the stored y says.
const positive = (y: string, zero: string) => `round_x(${y}) > ${zero}`;

// gamma and beta, for the kernels that compute y (normalize, and backward's ReLU mask)
const affineInputs = [input('gamma', 'f32'), input('beta', 'f32')];

// Per-channel (K, scale, shift) of y = fma(x - K, scale, shift); one text for every kernel that needs
// y, so the backward ReLU mask sees bit-identical values (explicit fma: no contraction differences).
const AFFINE = /* wgsl */ `
fn affine(c: u32) -> vec3f {
  let st = stats[c];
  let scale = gamma[c] * st.z;
  return vec3f(st.x, scale, fma(-st.y, scale, beta[c]));
}`;

// ---------------------------------------------------------------------------------------------
// Per-channel reductions: workgroup (c, p) walks chunk p of channel c's N·HWu units, a unit being
// E = 4 elements of one plane (a vec4f, or 4 packed halves) when H·W % 4 == 0, else one element.
// A workgroup of W invocations (the adapter's reduction shape, reduction_shape.ts: 8 on a CPU, whose
// SIMD batch of 8 streams memory well only over consecutive addresses; 64 on a GPU) reads W
// consecutive units per step, unrolled 4 times, the unit index stepped by additions (di, and dwrap
// into the channel's next plane) with no division in the loop. The W partials are combined by
// invocation 0 from workgroup memory, or (sg) with subgroup operations (workgroup_reduce.ts).
// Windowed, a dispatch sees only its window's images: u.units and u.L are the window's, u.P is the
// chunks per channel over all windows (the partial buffer's stride) and u.p0 the window's first chunk;
// the pivot comes from its own binding of image 0, so every window subtracts the same K.
type Width = 1 | 4;
type Spec = { dtype: DType; E: Width };
type Red = Spec & { kind: 'stats' | 'grad'; relu: boolean; sg: boolean; width: number };

// WGSL type of a unit's values.
const V = (s: Spec) => (s.E === 4 ? 'vec4f' : 'f32');

const UNROLL = 4;

const walk = (width: number, body: string) => {
  const step = `{
      ${body}
    }
    j += ${width}u;
    s += u.stepS;
    i += u.di;
    if (s >= u.HWu) { s -= u.HWu; i += u.dwrap; }`;
  return /* wgsl */ `
  let c = wid.x;
  let end = min((wid.y + 1u) * u.L, u.units);
  var j = wid.y * u.L + t;                     // unit of the channel: n·HWu + s
  var s = j % u.HWu;
  var i = ((j / u.HWu) * u.C + c) * u.HWu + s;  // unit of x
  loop {
    if (j >= end) { break; }
    ${step}
    ${Array.from({ length: UNROLL - 1 }, () => `if (j < end) ${step}`).join('\n    ')}
  }`;
};

// Chan's merge of (count, mean, M2) pairs; empty sides are fine.
const MERGE = /* wgsl */ `
fn merge(a: vec3f, b: vec3f) -> vec3f {
  let n = a.x + b.x;
  if (n == 0.0) { return vec3f(0.0); }
  let d = b.y - a.y;
  let r = b.x / n;
  return vec3f(n, a.y + d * r, a.z + b.z + d * d * a.x * r);
}`;

const reduceKernel = defineKernel({
  name: 'batch_norm.reduce',
  variant: (s: Red) => `${s.kind}/${s.dtype}/e${s.E}/w${s.width}${s.relu ? '/relu' : ''}${s.sg ? '/sg' : ''}`,
  uniforms: { C: 'u32', HWu: 'u32', units: 'u32', L: 'u32', P: 'u32', stepS: 'u32', di: 'u32', dwrap: 'u32', p0: 'u32' },
  buffers: (s) => s.kind === 'stats'
    ? [input('x', s.dtype, s.E), input('pivot', s.dtype, s.E), output('partial', 'f32', 4)]
    : [input('x', s.dtype, s.E), input('dy', s.dtype, s.E), input('stats', 'f32', 4), ...(s.relu ? affineInputs : []), output('partial', 'f32', 4)],
  subgroups: (s) => s.sg,
  body: (s) => {
    const stats = s.kind === 'stats';
    // Welford by units: a unit of 4 is its own (4, mean, M2) merged into the running triple.
    const welford = s.E === 4
      ? `let v = ld_x(i) - K;
    let mb = dot(v, vec4f(0.25));
    let d4 = v - mb;
    acc = merge(acc, vec3f(4.0, mb, dot(d4, d4)));`
      : `let v = ld_x(i) - K;
    acc.x += 1.0;
    let d = v - acc.y;
    acc.y += d / acc.x;
    acc.z += d * (v - acc.y);`;
    // gradient sums: (Σ dy', Σ dy'·(x - K - m)), per lane of a unit, folded at the end
    const grad = `let xc = ld_x(i) - ab.x;
    var g = ld_dy(i);
    ${s.relu ? `g = select(${V(s)}(0.0), g, ${positive(`fma(xc, ${V(s)}(ab.y), ${V(s)}(ab.z))`, `${V(s)}(0.0)`)});` : ''}
    s1 += g;
    s2 += g * (xc - m);`;
    const store = `partial[wid.x * u.P + u.p0 + wid.y] = vec4f(a, ${stats ? 'K' : '0.0'});`;
    const combine = s.sg
      ? `let a = wg_combine(mine, t, sid, nsg);
  if (t == 0u) { ${store} }`
      : `part[t] = mine;
  workgroupBarrier();
  if (t == 0u) {
    var a = part[0];
    for (var k = 1u; k < ${s.width}u; k++) { a = ${stats ? 'merge(a, part[k])' : 'a + part[k]'}; }
    ${store}
  }`;
    return /* wgsl */ `
${!stats && s.relu ? AFFINE : ''}
${MERGE}
${s.sg ? workgroupReduce('wg_combine', 'vec3f', s.width, stats ? 'welford' : 'add') : `var<workgroup> part: array<vec3f, ${s.width}>;`}
// one workgroup per (channel, chunk); invocation t takes units t, t + ${s.width}, ... of the chunk
@compute @workgroup_size(${s.width})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32${s.sg ? `, ${SUBGROUP_BUILTINS}` : ''}) {
  ${stats ? `let K = ld_pivot(wid.x * u.HWu)${s.E === 4 ? '.x' : ''};   // the pivot: x[0, c, 0, 0]
  var acc = vec3f(0.0);
  ${walk(s.width, welford)}
  let mine = acc;` : `${s.relu ? 'let ab = affine(wid.x);' : 'let ab = vec3f(stats[wid.x].x, 0.0, 0.0);'}
  let m = stats[wid.x].y;
  var s1 = ${V(s)}(0.0);
  var s2 = ${V(s)}(0.0);
  ${walk(s.width, grad)}
  ${s.E === 4 ? 'let mine = vec3f(0.0, dot(s1, vec4f(1.0)), dot(s2, vec4f(1.0)));' : 'let mine = vec3f(0.0, s1, s2);'}`}
  ${combine}
}`;
  },
});

// ---------------------------------------------------------------------------------------------
// Finalize: one invocation per channel merges its P partials.
type Fin = { kind: 'train' | 'eval' | 'grad-train' | 'grad-eval' };

const finalizeKernel = defineKernel({
  name: 'batch_norm.finalize',
  variant: (s: Fin) => s.kind,
  uniforms: { C: 'u32', P: 'u32', n: 'f32', momentum: 'f32', eps: 'f32' },
  buffers: (s) => s.kind === 'train'
    ? [input('partial', 'f32', 4), output('stats', 'f32', 4), output('runningMean', 'f32'), output('runningVar', 'f32')]
    : s.kind === 'eval'
      ? [input('runningMean', 'f32'), input('runningVar', 'f32'), output('stats', 'f32', 4)]
      : [input('partial', 'f32', 4), input('stats', 'f32', 4), input('gamma', 'f32'), output('dgamma', 'f32'), output('dbeta', 'f32'), output('coef', 'f32', 4)],
  body: (s) => {
    const main = (body: string) => `
// one invocation per channel
@compute @workgroup_size(64)
fn main(${builtins}) {
  let c = gid.x;
  if (c >= u.C) { return; }
  ${body}
}`;
    if (s.kind === 'train') {
      return /* wgsl */ `${MERGE}
${main(`var acc = vec3f(0.0);
  for (var p = 0u; p < u.P; p++) { acc = merge(acc, partial[c * u.P + p].xyz); }
  let K = partial[c * u.P].w;
  stats[c] = vec4f(K, acc.y, 1.0 / sqrt(acc.z / u.n + u.eps), u.n);
  runningMean[c] = (1.0 - u.momentum) * runningMean[c] + u.momentum * (K + acc.y);
  runningVar[c] = (1.0 - u.momentum) * runningVar[c] + u.momentum * (acc.z / (u.n - 1.0));`)}`;
    }
    if (s.kind === 'eval') return main('stats[c] = vec4f(runningMean[c], 0.0, 1.0 / sqrt(runningVar[c] + u.eps), u.n);');
    // gradients: coef = (k1, k2, k3) of dx = k1·dy' + k2·(x - K - m) + k3
    return main(`var acc = vec2f(0.0);
  for (var p = 0u; p < u.P; p++) { acc += partial[c * u.P + p].yz; }
  let invstd = stats[c].z;
  let dg = acc.y * invstd;                      // Σ dy'·xhat
  dgamma[c] = dg;
  dbeta[c] = acc.x;
  let a = gamma[c] * invstd;
  ${s.kind === 'grad-train'
    ? 'coef[c] = vec4f(a, -a * invstd * dg / u.n, -a * acc.x / u.n, 0.0);'
    : 'coef[c] = vec4f(a, 0.0, 0.0, 0.0);'}`);
  },
});

// ---------------------------------------------------------------------------------------------
// Elementwise passes: normalize (x -> y) and the dx of backward. An item is one 16-byte vector: a quad
// of 4 f32, or two quads of packed halves (an invocation takes 1-4 items: launch_shape.ts). The quad's channel lookups depend on H·W:
//   aligned  (H·W % 4 == 0): the quad lies in one plane, one lookup;
//   straddle (H·W >= 4): it may cross into the next plane, two lookups and a per-lane select;
//   tiny     (H·W < 4): each element looks up its own channel.
// The channel (e / HWu) % C comes from f32 reciprocals (two u32 divisions per invocation cost llvmpipe
// a third of its copy bandwidth): floor((e + 0.5)·(1/d)) is exact while e + 0.5 < 2^22, its two
// roundings staying inside the 0.5/d margin to the next integer; bigger tensors (spec.big) add one
// correction per quotient.
type Layout = 'aligned' | 'straddle' | 'tiny';
// res (normalize only): add r before the ReLU
type Ew = { dtype: DType; layout: Layout; kind: 'normalize' | 'dx'; relu: boolean; res: boolean; big: boolean; launch: LaunchShape };
const BIG = 2 ** 22;
const layoutOf = (HW: number): Layout => (HW % 4 === 0 ? 'aligned' : HW >= 4 ? 'straddle' : 'tiny');
/** Elements per 16-byte vector: a vec4f, or 8 halves (two quads). */
const vecLen = (dtype: DType) => (dtype === 'f32' ? 4 : 8);

// (channel, offset in the plane) of unit e
const chan = (big: boolean) => {
  const fix = (q: string, v: string, d: string) => (big ? `\n  if (${q} * ${d} > ${v}) { ${q} -= 1u; } else if ((${q} + 1u) * ${d} <= ${v}) { ${q} += 1u; }` : '');
  return /* wgsl */ `
fn chan(e: u32) -> vec2u {
  var q = u32((f32(e) + 0.5) * u.invHW);${fix('q', 'e', 'u.HWu')}
  var n = u32((f32(q) + 0.5) * u.invC);${fix('n', 'q', 'u.C')}
  return vec2u(q - n * u.C, e - q * u.HWu);
}`;
};

const ewKernel = defineKernel({
  name: 'batch_norm.elementwise',
  variant: (s: Ew) => `${s.kind}/${s.dtype}/${s.layout}${s.relu ? '/relu' : ''}${s.res ? '/res' : ''}${s.big ? '/big' : ''}${launchVariant(s.launch)}`,
  uniforms: { C: 'u32', HWu: 'u32', vecs: 'u32', invHW: 'f32', invC: 'f32' },
  buffers: (s) => {
    const dx = s.kind === 'dx', L = vecLen(s.dtype);
    return [
      input('x', s.dtype, L),
      ...(dx ? [input('dy', s.dtype, L)] : []),
      ...(s.res ? [input('r', s.dtype, L)] : []),
      input('stats', 'f32', 4),
      ...(dx ? [input('coef', 'f32', 4)] : []),
      ...(!dx || s.relu ? affineInputs : []),
      output(dx ? 'dx' : 'y', s.dtype, L),
    ];
  },
  body: (s) => {
    const dx = s.kind === 'dx';
    // per-channel vec4s a quad needs: pa = (K, scale, shift, _) for normalize, (K, m, scale, shift)
    // and pk = (k1, k2, k3, _) for dx, per channel looked up
    const fns = dx ? ['pa', 'pk'] : ['pa'];
    const get = (k: number, c: string) => fns.map((f) => `let ${f}${k} = ${f}(${c});`).join(' ');
    const gather = {
      aligned: `let c = chan(q).x;\n  ${get(0, 'c')}`,
      straddle: `let cs = chan(4u * q);
  let next = cs.y + vec4u(0u, 1u, 2u, 3u) >= vec4u(u.HWu);   // lanes past the plane's end
  ${get(0, 'cs.x')} ${get(1, 'select(cs.x + 1u, 0u, cs.x + 1u == u.C)')}`,
      tiny: [0, 1, 2, 3].map((k) => `${get(k, `chan(4u * q + ${k}u).x`)}`).join('\n  '),
    }[s.layout];
    const lane = (f: string, m: string) => ({
      aligned: `vec4f(${f}0.${m})`,
      straddle: `select(vec4f(${f}0.${m}), vec4f(${f}1.${m}), next)`,
      tiny: `vec4f(${f}0.${m}, ${f}1.${m}, ${f}2.${m}, ${f}3.${m})`,
    })[s.layout];
    const rq = s.res ? ', rq: vec4f' : '', plusR = s.res ? ' + rq' : '';
    const quad = dx
      ? `fn quad(q: u32, xq: vec4f, dq: vec4f) -> vec4f {
  ${gather}
  let xc = xq - ${lane('pa', 'x')};
  var g = dq;
  ${s.relu ? `g = select(vec4f(0.0), g, ${positive(`fma(xc, ${lane('pa', 'z')}, ${lane('pa', 'w')})`, 'vec4f(0.0)')});` : ''}
  return fma(${lane('pk', 'x')}, g, fma(${lane('pk', 'y')}, xc - ${lane('pa', 'y')}, ${lane('pk', 'z')}));
}`
      : `fn quad(q: u32, xq: vec4f${rq}) -> vec4f {
  ${gather}
  let y = fma(xq - ${lane('pa', 'x')}, ${lane('pa', 'y')}, ${lane('pa', 'z')})${plusR};
  return ${s.relu ? 'max(y, vec4f(0.0))' : 'y'};
}`;
    const pa = dx
      ? `fn pa(c: u32) -> vec4f { let st = stats[c];${s.relu ? ' let a = affine(c); return vec4f(st.xy, a.yz);' : ' return st;'} }
fn pk(c: u32) -> vec4f { return coef[c]; }`
      : 'fn pa(c: u32) -> vec4f { return vec4f(affine(c), 0.0); }';
    const out = dx ? 'dx' : 'y';
    const f32 = s.dtype === 'f32';
    const args = (k: string) => `x${k}${dx ? `, d${k}` : ''}${s.res ? `, r${k}` : ''}`;
    const loads = `let xv = ld_x(v);${dx ? ' let dv = ld_dy(v);' : ''}${s.res ? ' let rv = ld_r(v);' : ''}`;
    const body = f32
      ? `st_${out}(v, quad(v, ld_x(v)${dx ? ', ld_dy(v)' : ''}${s.res ? ', ld_r(v)' : ''}));`
      : `${loads}\n  st_${out}(v, mat2x4f(quad(2u * v, ${args('v[0]')}), quad(2u * v + 1u, ${args('v[1]')})));`;
    return /* wgsl */ `
${!dx || s.relu ? AFFINE : ''}
${chan(s.big)}
${pa}
${quad}
// one item per 16-byte vector (${s.dtype === 'f32' ? 'one quad' : 'two quads of halves'}); the tail vector's extra lanes only write padding
${launchMain(s.launch, 'u.vecs', body)}`;
  },
});

type Tail = { relu: boolean; res: boolean };

/**
 * One elementwise pass over windows of whole images: `batched` ([N, C, H, W] like x, x among them)
 * and the output are bound per window, `perChannel` whole. A window starts on an image, so chan()'s
 * channel of a window-relative index is the image's channel.
 */
function elementwise(kind: 'normalize' | 'dx', x: Tensor, batched: Record<string, Tensor>, perChannel: Record<string, Tensor>, tail: Tail, launch?: LaunchShape): Tensor {
  const [N, C, H, W] = x.shape;
  const layout = layoutOf(H * W);
  const HWu = layout === 'aligned' ? (H * W) / 4 : H * W;  // chan() divides quad indices when aligned, else elements
  const imageBytes = (x.size / N) * (x.dtype === 'f32' ? 4 : 2);
  const y = Tensor.empty(x.shape, x.dtype);
  const bound = { ...batched, [kind === 'dx' ? 'dx' : 'y']: y };
  // big from the whole tensor: one pipeline for every window (the correction is exact for any size)
  const quads = Math.ceil(x.size / 4);
  const base = { dtype: x.dtype, layout, kind, ...tail, big: (layout === 'aligned' ? quads : 4 * quads) >= BIG };
  const spec: Ew = { ...base, launch: launch ?? elementwiseLaunch(base, x, batched, perChannel) };
  for (const w of batchWindows(OP, N, Object.values(bound))) {
    const vecs = Math.ceil((w.count * imageBytes) / 16);
    const windowed = Object.fromEntries(Object.entries(bound).map(([k, t]) => [k, rowsOf(t, N, w)]));
    ewKernel.run(spec, {
      uniforms: { C, HWu, vecs, invHW: 1 / HWu, invC: 1 / C }, buffers: { ...windowed, ...perChannel }, grid: launchGrid(vecs, spec.launch),
    });
  }
  return y;
}

/** The pass's launch shape at x's size: tuned per problem (every shape gives the same bits). */
function elementwiseLaunch(base: Omit<Ew, 'launch'>, x: Tensor, batched: Record<string, Tensor>, perChannel: Record<string, Tensor>): LaunchShape {
  const [N, C, H, W] = x.shape;
  const tail = `${base.res ? ' + residual' : ''}${base.relu ? ' + ReLU' : ''}`;
  return chooseLaunch({
    kernel: ewKernel.name, shape: `${base.kind} ${base.dtype}${base.relu ? ' relu' : ''}${base.res ? ' res' : ''} N${N} C${C} ${H}x${W}`,
    text: `batch norm ${base.kind}${tail} ${base.dtype} [${N}, ${C}, ${H}, ${W}]`,
    wgsl: () => ewKernel.wgsl({ ...base, launch: DEFAULT_LAUNCH }),
    inputs: [...Object.values(batched), ...Object.values(perChannel)].map((t) => [t.shape, t.dtype] as const),
    run: (s, t) => {
      // the scratch copies, under the same names (batched first, then per channel)
      const named = (names: string[], from: number) => Object.fromEntries(names.map((k, i) => [k, t[from + i]!]));
      const b = named(Object.keys(batched), 0), pc = named(Object.keys(perChannel), Object.keys(batched).length);
      elementwise(base.kind, b.x!, b, pc, base, s).dispose();
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Launchers (raw: no checks, no tape).

interface Dims { N: number; C: number; HW: number; spec: Spec; HWu: number }
const dimsOf = (x: Tensor): Dims => {
  const [N, C, H, W] = x.shape;
  const spec: Spec = { dtype: x.dtype, E: (H * W) % 4 === 0 ? 4 : 1 };
  return { N, C, HW: H * W, spec, HWu: (H * W) / spec.E };
};

// Chunks per channel of `images` images: about the shape's workgroups in all, at least 64 units per
// invocation.
function chunking(d: Dims, images: number, shape: ReductionShape) {
  const perChannel = images * d.HWu, W = shape.width;
  const P = Math.max(1, Math.min(Math.ceil(shape.groups / d.C), Math.floor(perChannel / (W * 64))));
  const stepN = Math.floor(W / d.HWu), stepS = W % d.HWu;
  return {
    C: d.C, HWu: d.HWu, units: perChannel, L: Math.ceil(perChannel / P), P,
    stepS, di: stepN * d.C * d.HWu + stepS, dwrap: (d.C - 1) * d.HWu,
  };
}

/**
 * The reduction dispatches over `windows`: each chunks its own images (grid [C, chunks, 1]) and writes
 * its partials from chunk p0 on, into partials [C, P, 4] shared by all (P = every window's chunks).
 */
function reductions(d: Dims, windows: readonly Window[], shape: ReductionShape) {
  const each = windows.map((w) => chunking(d, w.count, shape));
  const P = each.reduce((sum, c) => sum + c.P, 0);
  let p0 = 0;
  const runs = windows.map((w, k) => {
    const c = each[k]!;
    const run = { w, grid: [d.C, c.P, 1] as [number, number, number], uniforms: { ...c, P, p0 } };
    p0 += c.P;
    return run;
  });
  return { P, runs };
}

/**
 * Training statistics of x [N, C, H, W]: returns stats f32 [C, 4] = (K, mean - K, invstd, n) and
 * updates runningMean / runningVar (f32 [C]) in place with PyTorch's rule.
 */
export function batchNormStats(x: Tensor, runningMean: Tensor, runningVar: Tensor, momentum: number, eps: number): Tensor {
  const d = dimsOf(x);
  const shape = reductionShape();
  const { P, runs } = reductions(d, batchWindows(OP, d.N, [x]), shape);
  const partial = Tensor.empty([d.C, P, 4], 'f32');
  const pivot = rowsOf(x, d.N, { first: 0, count: 1 }); // image 0, whichever window is reduced
  const spec: Red = { ...d.spec, kind: 'stats', relu: false, sg: subgroupsEnabled(), width: shape.width };
  for (const r of runs) reduceKernel.run(spec, { uniforms: r.uniforms, buffers: { x: rowsOf(x, d.N, r.w), pivot, partial }, grid: r.grid });
  const stats = Tensor.empty([d.C, 4], 'f32');
  finalizeKernel.run({ kind: 'train' }, {
    uniforms: { C: d.C, P, n: d.N * d.HW, momentum, eps },
    buffers: { partial, stats, runningMean, runningVar }, grid: grid1d(d.C, 64),
  });
  partial.dispose();
  return stats;
}

/** Eval-mode stats f32 [C, 4] = (runningMean, 0, 1/sqrt(runningVar + eps), n) for normalize/backward. */
export function batchNormEvalStats(runningMean: Tensor, runningVar: Tensor, eps: number, n = 1): Tensor {
  const C = runningMean.size;
  const stats = Tensor.empty([C, 4], 'f32');
  finalizeKernel.run({ kind: 'eval' }, {
    uniforms: { C, P: 1, n, momentum: 0, eps }, buffers: { runningMean, runningVar, stats }, grid: grid1d(C, 64),
  });
  return stats;
}

/**
 * y = gamma·(x - mean)·invstd + beta (+ `residual`, then ReLU if `relu`), with mean/invstd from `stats`;
 * y has x's dtype. `launch`: a launch shape instead of the tuned or default one (tests).
 */
export function batchNormNormalize(x: Tensor, stats: Tensor, gamma: Tensor, beta: Tensor, relu: boolean,
  opts: { launch?: LaunchShape; residual?: Tensor } = {}): Tensor {
  const r = opts.residual;
  return elementwise('normalize', x, r ? { x, r } : { x }, { stats, gamma, beta }, { relu, res: !!r }, opts.launch);
}

export interface BatchNormGrads { dx: Tensor | null; dgamma: Tensor; dbeta: Tensor }

/**
 * Backward of batch norm given forward's x and stats: dgamma, dbeta (f32 [C]) and, if `needDx`,
 * dx (x's dtype). `training` selects the batch-statistics rule; `relu` masks dy by the recomputed y > 0.
 */
export function batchNormBackward(dy: Tensor, x: Tensor, stats: Tensor, gamma: Tensor, beta: Tensor,
  opts: { training: boolean; relu: boolean; needDx?: boolean; launch?: LaunchShape }): BatchNormGrads {
  const d = dimsOf(x);
  const relu = opts.relu;
  const affine: Record<string, Tensor> = relu ? { gamma, beta } : {};
  const shape = reductionShape();
  const { P, runs } = reductions(d, batchWindows(OP, d.N, [x, dy]), shape);
  const partial = Tensor.empty([d.C, P, 4], 'f32');
  const spec: Red = { ...d.spec, kind: 'grad', relu, sg: subgroupsEnabled(), width: shape.width };
  for (const r of runs) {
    reduceKernel.run(spec, {
      uniforms: r.uniforms, buffers: { x: rowsOf(x, d.N, r.w), dy: rowsOf(dy, d.N, r.w), stats, ...affine, partial }, grid: r.grid,
    });
  }
  const dgamma = Tensor.empty([d.C], 'f32');
  const dbeta = Tensor.empty([d.C], 'f32');
  const coef = Tensor.empty([d.C, 4], 'f32');
  finalizeKernel.run({ kind: opts.training ? 'grad-train' : 'grad-eval' }, {
    uniforms: { C: d.C, P, n: d.N * d.HW, momentum: 0, eps: 0 },
    buffers: { partial, stats, gamma, dgamma, dbeta, coef }, grid: grid1d(d.C, 64),
  });
  partial.dispose();
  const dx = opts.needDx ?? true ? elementwise('dx', x, { x, dy }, { stats, coef, ...affine }, { relu, res: false }, opts.launch) : null;
  coef.dispose();
  return { dx, dgamma, dbeta };
}

// ---------------------------------------------------------------------------------------------
// The op.

export interface BatchNormOptions { training: boolean; momentum?: number; eps?: number; relu?: boolean }

function check(e: Expect, x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, o: BatchNormOptions, residual?: Tensor) {
  e.rank('x', x, 4);
  const [N, C, H, W] = x.shape;
  for (const [name, t] of [['gamma', gamma], ['beta', beta], ['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    e.shape(name, t, [C], ['x', x]);
    e.dtype(name, t, 'f32');
  }
  e.dtype('x', x, 'f32', 'f16');
  if (residual !== undefined) {
    if (!(residual instanceof Tensor)) e.fail('residual must be a Tensor shaped like x, or left out');
    e.shape('residual', residual, x.shape, ['x', x]);
    e.dtype('residual', residual, x.dtype);
  }
  if (typeof o?.training !== 'boolean') e.fail('options.training must be true or false');
  const momentum = o.momentum ?? 0.1, eps = o.eps ?? 1e-5;
  if (!(momentum >= 0 && momentum <= 1)) e.fail(`momentum must be in [0, 1], got ${momentum}`);
  if (!(eps > 0)) e.fail(`eps must be > 0, got ${eps}`);
  const n = N * H * W;
  if (o.training && n < 2) e.fail(`training needs more than 1 value per channel, got x [${x.shape.join(', ')}]`);
  if (o.training && n >= 2 ** 24) e.fail(`N·H·W = ${n} values per channel exceeds the exact f32 count 2^24, x is [${x.shape.join(', ')}]`);
}

/**
 * BatchNorm2d on x [N, C, H, W] with f32 [C] gamma, beta and running statistics (updated in place
 * in training mode); relu fuses a following ReLU, and `residual` (x's shape and dtype) is added before
 * it: y = relu(bn(x) + residual) in one pass. Output has x's dtype.
 */
export const batchNorm = defineOp('batchNorm', {
  check,
  forward: (x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, o: BatchNormOptions, residual?: Tensor) => {
    const relu = !!o.relu, eps = o.eps ?? 1e-5;
    const [N, , H, W] = x.shape;
    const stats = o.training
      ? batchNormStats(x, runningMean, runningVar, o.momentum ?? 0.1, eps)
      : batchNormEvalStats(runningMean, runningVar, eps, N * H * W);
    const y = batchNormNormalize(x, stats, gamma, beta, relu, residual ? { residual } : {});
    // a residual tail's backward masks dy by the output itself (kept: it is the next layer's input anyway)
    const tail = residual && relu ? y : undefined;
    return { y, saved: { x, stats, gamma, beta, training: o.training, relu, tail, hasResidual: !!residual } };
  },
  backward: (dy, s, needs) => {
    const masked = s.tail ? reluBackward(s.tail, dy) : dy;   // dy' of the residual tail (else dy itself)
    const g = batchNormBackward(masked, s.x, s.stats, s.gamma, s.beta, { training: s.training, relu: s.relu && !s.tail, needDx: needs[0] });
    if (!needs[1]) g.dgamma.dispose();
    if (!needs[2]) g.dbeta.dispose();
    const dr = s.hasResidual && needs[5] ? masked.share() : null;
    if (s.tail) masked.dispose();
    return [g.dx, needs[1] ? g.dgamma : null, needs[2] ? g.dbeta : null, null, null, ...(s.hasResidual ? [dr] : [])];
  },
});
