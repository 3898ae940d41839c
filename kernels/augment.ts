// GPU data augmentation: uint8 NCHW images -> normalised f32/f16 activations [N, C, S, S], so a
// resized batch never exists on the host. The seed's train transform (MindSpore) is
//   RandomCrop(K, padding=pad) -> RandomHorizontalFlip(0.5) -> Resize(S, bilinear) -> Rescale(1/255)
//   -> Normalize(mean, std)
// and the test transform Resize -> Rescale -> Normalize is the same kernel with a whole-image crop.
//
// Pad + crop + flip + resize compose, per image, into an affine map from an output pixel index to a
// position in the unpadded source, built on the host with gl-matrix (train/data/transforms.ts):
//   output centre ow + 0.5 -> crop position (ow + 0.5)·K/S - 0.5 (half-pixel centres, as OpenCV/PIL
//   Resize) -> flipped K-1-x -> source x + ox - pad.
// Resize clamps positions to the first/last pixel centre of the *cropped* image, so each image also
// carries that box in source coordinates. Sampling the virtual cropped image bilinearly, every tap
// reads the source pixel or 0 where it lies in the zero padding, exactly as pad -> crop -> resize
// would; a clamped position's far tap has weight 0. Last, y = v·1/(255·std[c]) - mean[c]/std[c].
// (OpenCV, under MindSpore's Resize, rounds the resized uint8 image and uses 11-bit fixed-point
// weights; we keep the interpolated value in f32, a difference of at most 0.5/255 before Normalize.)
//
// Crop, flip and scale never mix the axes, so the map is x = ax·ow + tx, y = ay·oh + ty and bilinear
// sampling is separable. Two passes: 'cols' resamples every source row at the S output columns
// (t [N, C, H, 4⌈S/4⌉] f32, 2 taps per element, 1/7 of the output's size at 32 -> 224), then 'rows'
// blends two rows of t per output row (rows of t are reloaded only when they change, i.e. once per
// 7 output rows at 32 -> 224). Measured on llvmpipe this is ~2x faster than one pass of 4 byte taps
// per output. Invocations own 4 output columns and walk down the plane, so the per-column and
// per-image terms are computed once; output sides that are not a multiple of 4 use a flat 'rowsAny'.
//
// Layout: src is the batch's raw bytes packed 4 per 32-bit word (byte i of the batch = bits
// 8(i%4)..8(i%4)+7 of word i/4, a `u8` buffer), a tensor of shape [⌈N·C·H·W/4⌉] (uploadBytes / writeBytes).
// params is [N, PARAMS] f32, per image [ax, tx, ay, ty, x0, y0, x1, y1]: the map and the clamp box.
// Per-step data lives in tensors (written with write() / writeBytes()), never in uniforms, so a
// captured training step replays with new images and new crops. No backward: the inputs are data.
import { OpError, Tensor, defineOp, grid1d, fmt, writeBuffer, type DType, type Expect } from '../engine/index.ts';
import { defineKernel, input, output, type BufferDecl } from './kernel.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';
import { batchWindows, rowsOf } from './windows.ts';

/** Floats per image in the params tensor: ax, tx, ay, ty, then the clamp box x0, y0, x1, y1. */
export const PARAMS = 8;

/** Invocations per workgroup of the column-walking passes: few invocations per plane at S = 32. */
const WGC = 64;

type Pass = 'cols' | 'rows' | 'rowsAny';
type Spec = { pass: Pass; dtype: DType };

// the two taps of a clamped position s on an axis of n pixels: indices clamped into the image
// (harmless reads), `inside` 0 where the tap lies in the zero padding, f the weight of the second
const TAPS = /* wgsl */ `
struct Taps { i: vec2u, inside: vec2f, f: f32 }
fn taps(s: f32, n: u32) -> Taps {
  let at = vec2f(floor(s), floor(s) + 1.0);
  let inside = (at >= vec2f(0.0)) & (at < vec2f(f32(n)));
  return Taps(vec2u(clamp(at, vec2f(0.0), vec2f(f32(n - 1u)))), select(vec2f(0.0), vec2f(1.0), inside), s - at.x);
}`;

// cols: src bytes -> t [N, C, H, 4Q] f32; rows, rowsAny: t -> y [N, C, S, S] of the activation dtype
const BUFFERS: Record<Pass, (s: Spec) => BufferDecl[]> = {
  cols: () => [input('src', 'u8'), input('prm', 'f32'), output('t', 'f32', 4)],
  rows: (s) => [input('t', 'f32', 4), input('prm', 'f32'), input('nrm', 'f32'), output('y', s.dtype, 4)],
  rowsAny: (s) => [input('t', 'f32'), input('prm', 'f32'), input('nrm', 'f32'), output('y', s.dtype, 4)],
};

const WGSL: Record<Pass, string> = {
  cols: /* wgsl */ `
fn bytes(b: vec4u) -> vec4f {
  return vec4f(vec4u(ld_src(b.x), ld_src(b.y), ld_src(b.z), ld_src(b.w)));
}
// one invocation per 4 columns (4q..4q+3) of t [N, C, H, 4Q], down all H source rows of plane n·C + c
@compute @workgroup_size(${WGC})
fn main(${builtins}) {
  let i = ${flatIndex(WGC)};
  if (i >= u.work) { return; }
  let q = i % u.Q;
  let plane = i / u.Q;
  let p = (plane / u.C) * ${PARAMS}u;
  // taps and weights of the 4 columns, the same in every row (unrolled: llvmpipe keeps them in registers)
  var xa: vec4u; var xb: vec4u; var wa: vec4f; var wb: vec4f;
${[0, 1, 2, 3].map((j) => `  {
    let k = taps(clamp(prm[p] * f32(4u * q + ${j}u) + prm[p + 1u], prm[p + 4u], prm[p + 6u]), u.W);
    xa.${'xyzw'[j]} = k.i.x; xb.${'xyzw'[j]} = k.i.y; wa.${'xyzw'[j]} = k.inside.x * (1.0 - k.f); wb.${'xyzw'[j]} = k.inside.y * k.f;
  }`).join('\n')}
  for (var iy = 0u; iy < u.H; iy++) {
    let row = plane * u.H + iy;
    t[row * u.Q + q] = wa * bytes(xa + vec4u(row * u.W)) + wb * bytes(xb + vec4u(row * u.W));
  }
}`,
  rows: /* wgsl */ `
// one invocation per 4 output columns (S % 4 == 0) of plane n·C + c, down all S output rows
@compute @workgroup_size(${WGC})
fn main(${builtins}) {
  let i = ${flatIndex(WGC)};
  if (i >= u.work) { return; }
  let q = i % u.Q;
  let plane = i / u.Q;
  let c = plane % u.C;
  let p = (plane / u.C) * ${PARAMS}u;
  let ay = prm[p + 2u]; let ty = prm[p + 3u]; let y0 = prm[p + 5u]; let y1 = prm[p + 7u];
  let scale = vec4f(nrm[2u * c]);
  let bias = vec4f(nrm[2u * c + 1u]);
  var cur = -1.0e9;
  var ta = vec4f(0.0);
  var tb = vec4f(0.0);
  for (var oh = 0u; oh < u.S; oh++) {
    let sy = clamp(ay * f32(oh) + ty, y0, y1);
    let k = taps(sy, u.H);
    if (floor(sy) != cur) {  // consecutive output rows mostly blend the same two rows of t: load on change
      cur = floor(sy);
      ta = k.inside.x * t[(plane * u.H + k.i.x) * u.Q + q];
      tb = k.inside.y * t[(plane * u.H + k.i.y) * u.Q + q];
    }
    st_y((plane * u.S + oh) * u.Q + q, fma((1.0 - k.f) * ta + k.f * tb, scale, bias));
  }
}`,
  rowsAny: /* wgsl */ `
fn at(e: u32) -> f32 {
  if (e >= u.total) { return 0.0; }
  let ow = e % u.S;
  let oh = (e / u.S) % u.S;
  let plane = e / (u.S * u.S);
  let c = plane % u.C;
  let p = (plane / u.C) * ${PARAMS}u;
  let k = taps(clamp(prm[p + 2u] * f32(oh) + prm[p + 3u], prm[p + 5u], prm[p + 7u]), u.H);
  let rows = (vec2u(plane * u.H) + k.i) * (4u * u.Q) + vec2u(ow);
  return fma(dot(k.inside * vec2f(1.0 - k.f, k.f), vec2f(t[rows.x], t[rows.y])), nrm[2u * c], nrm[2u * c + 1u]);
}
// one invocation per 4 consecutive output elements (any S; the fallback for S % 4 != 0)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  if (i >= u.work) { return; }
  st_y(i, vec4f(at(4u * i), at(4u * i + 1u), at(4u * i + 2u), at(4u * i + 3u)));
}`,
};

const kernel = defineKernel({
  name: 'augment',
  variant: (s: Spec) => `${s.pass}/${s.dtype}`,
  uniforms: { work: 'u32', total: 'u32', S: 'u32', Q: 'u32', C: 'u32', H: 'u32', W: 'u32' },
  buffers: (s) => BUFFERS[s.pass](s),
  body: (s) => `${TAPS}\n${WGSL[s.pass]}`,
});

/** Dimensions of the uint8 source batch. */
export interface ImageDims { N: number; C: number; H: number; W: number }
/** Output: square side S and activation dtype. */
export interface AugmentOut { size: number; dtype: DType }

/** Launch without checks: y [N, C, S, S] from packed uint8 src and per-image params [N, PARAMS]. */
export function augmentForward(src: Tensor, dims: ImageDims, params: Tensor, out: AugmentOut, mean: readonly number[], std: readonly number[]): Tensor {
  const { N, C, H, W } = dims, S = out.size, Q = Math.ceil(S / 4);
  // (v/255 - mean)/std as one fma; constants rounded once from float64
  const nrm = Tensor.from(Array.from({ length: 2 * C }, (_, i) => (i % 2 ? -mean[i >> 1] / std[i >> 1] : 1 / (255 * std[i >> 1]))), [C, 2]);
  const t = Tensor.empty([N, C, H, 4 * Q], 'f32');
  const y = Tensor.empty([N, C, S, S], out.dtype);
  const any = S % 4 !== 0;
  // in windows of images when a tensor is over the binding limit: every buffer but nrm is per image, so
  // a window's kernels index it as a batch of its own (src by whole words: needs C·H·W % 4 == 0)
  for (const w of batchWindows('augment', N, [src, params, t, y])) {
    const [s, prm, tw, yw] = [src, params, t, y].map((x) => rowsOf(x, N, w));
    const n = w.count, total = n * C * S * S;
    const uniforms = (work: number) => ({ work, total, S, Q, C, H, W });
    kernel.run({ pass: 'cols', dtype: 'f32' }, { uniforms: uniforms(n * C * Q), buffers: { src: s!, prm: prm!, t: tw! }, grid: grid1d(n * C * Q, WGC) });
    const work = any ? Math.ceil(total / 4) : n * C * Q;
    kernel.run({ pass: any ? 'rowsAny' : 'rows', dtype: out.dtype }, { uniforms: uniforms(work), buffers: { t: tw!, prm: prm!, nrm, y: yw! }, grid: grid1d(work, any ? WG : WGC) });
  }
  t.dispose();
  nrm.dispose();
  return y;
}

function check(e: Expect, src: Tensor, dims: ImageDims, params: Tensor, out: AugmentOut, mean: readonly number[], std: readonly number[]) {
  const { N, C, H, W } = dims;
  for (const k of ['N', 'C', 'H', 'W'] as const) e.positiveInt(k, dims[k]);
  e.positiveInt('out.size', out.size);
  const words = Math.ceil((N * C * H * W) / 4);
  if (src.shape.length !== 1 || src.shape[0] !== words) {
    e.fail(`src must be [${words}] (N·C·H·W = ${N}·${C}·${H}·${W} bytes packed 4 per word), got ${fmt(src.shape)}`);
  }
  e.shape('params', params, [N, PARAMS], ['src', src]);
  e.dtype('params', params, 'f32');
  if (mean.length !== C || std.length !== C) e.fail(`mean and std need C=${C} values, got ${mean.length} and ${std.length}`);
  if (!std.every((s) => s > 0)) e.fail(`std must be positive, got [${std.join(', ')}]`);
}

/**
 * Crop/flip/resize/normalise a packed uint8 batch on the GPU into an activation [N, C, S, S] of
 * out.dtype. params: [N, PARAMS] f32 (train/data/transforms.ts builds them). Not differentiable.
 */
export const augmentBatch = defineOp('augment', {
  check,
  forward: (src: Tensor, dims: ImageDims, params: Tensor, out: AugmentOut, mean: readonly number[], std: readonly number[]) =>
    ({ y: augmentForward(src, dims, params, out, mean, std), saved: {} }),
  backward: () => [null, null], // images and transform parameters are data: no gradient
});

// ---- uint8 batches on the GPU -------------------------------------------------------------------

/** An uninitialised tensor holding `bytes` raw bytes packed 4 per word: shape [⌈bytes/4⌉]. */
export const byteTensor = (bytes: number): Tensor => Tensor.empty([Math.ceil(bytes / 4)], 'f32');

/** Write raw bytes into a byteTensor(), ordered with recorded work (1/4 of the traffic of write()). */
export function writeBytes(t: Tensor, bytes: Uint8Array): void {
  if (Math.ceil(bytes.length / 4) !== t.size) throw new OpError('writeBytes', `${bytes.length} bytes do not fit ${t} (needs [${Math.ceil(bytes.length / 4)}])`);
  let data = bytes;
  if (bytes.length % 4) { data = new Uint8Array(t.size * 4); data.set(bytes); } // buffer writes are whole words
  writeBuffer(t.buffer, 0, data);
}

/** Upload a uint8 batch as a packed byte tensor (the `src` of augmentBatch). */
export function uploadBytes(bytes: Uint8Array): Tensor {
  const t = byteTensor(bytes.length);
  writeBytes(t, bytes);
  return t;
}
