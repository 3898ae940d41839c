// GPU data augmentation: uint8 NCHW images -> normalised f32/f16 activations [N, C, S, S], so a
// resized batch never exists on the host. The seed's train transform (MindSpore) is
//   RandomCrop(K, padding=pad) -> RandomHorizontalFlip(0.5) -> Resize(S, bilinear) -> Rescale(1/255)
//   -> Normalize(mean, std)
// and the test transform Resize -> Rescale -> Normalize is the same kernel with a whole-image crop.
//
// Pad + crop + flip + resize compose, per image, into an affine map from an output pixel index to a
// position in the unpadded source, built on the host with gl-matrix (imageParams):
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
// 8(i%4)..8(i%4)+7 of word i/4), a tensor of shape [⌈N·C·H·W/4⌉] (uploadBytes / writeBytes).
// params is [N, PARAMS] f32, per image [ax, tx, ay, ty, x0, y0, x1, y1]: the map and the clamp box.
// Per-step data lives in tensors (written with write() / writeBytes()), never in uniforms, so a
// captured training step replays with new images and new crops. No backward: the inputs are data.
import { mat2d } from 'gl-matrix';
import { Tensor, defineOp, launch, grid1d, uniforms, device, fmt, writeBuffer, type DType, type Expect, type Rng } from '../engine/index.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';

/** Floats per image in the params tensor: ax, tx, ay, ty, then the clamp box x0, y0, x1, y1. */
export const PARAMS = 8;

/** Invocations per workgroup of the column-walking passes: few invocations per plane at S = 32. */
const WGC = 64;

type Pass = 'cols' | 'rows' | 'rowsAny';
type Spec = { pass: Pass; dtype: DType };
const U = uniforms({ work: 'u32', total: 'u32', S: 'u32', Q: 'u32', C: 'u32', H: 'u32', W: 'u32' });

// f32 stores 4 elements as a vec4f, f16 as two packed pairs
const store = (dtype: DType, v: string) => (dtype === 'f32' ? v : `vec2u(pack2x16float(${v}.xy), pack2x16float(${v}.zw))`);
const outArray = (binding: number, dtype: DType) =>
  `@group(0) @binding(${binding}) var<storage, read_write> y: array<${dtype === 'f32' ? 'vec4f' : 'vec2u'}>;`;

// the two taps of a clamped position s on an axis of n pixels: indices clamped into the image
// (harmless reads), `inside` 0 where the tap lies in the zero padding, f the weight of the second
const TAPS = /* wgsl */ `
struct Taps { i: vec2u, inside: vec2f, f: f32 }
fn taps(s: f32, n: u32) -> Taps {
  let at = vec2f(floor(s), floor(s) + 1.0);
  let inside = (at >= vec2f(0.0)) & (at < vec2f(f32(n)));
  return Taps(vec2u(clamp(at, vec2f(0.0), vec2f(f32(n - 1u)))), select(vec2f(0.0), vec2f(1.0), inside), s - at.x);
}`;

const WGSL: Record<Pass, (s: Spec) => string> = {
  cols: () => /* wgsl */ `
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> prm: array<f32>;
@group(0) @binding(3) var<storage, read_write> t: array<vec4f>;
fn bytes(b: vec4u) -> vec4f {
  return vec4f((vec4u(src[b.x >> 2u], src[b.y >> 2u], src[b.z >> 2u], src[b.w >> 2u]) >> ((b & vec4u(3u)) << vec4u(3u))) & vec4u(255u));
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
  rows: (s) => /* wgsl */ `
@group(0) @binding(1) var<storage, read> t: array<vec4f>;
@group(0) @binding(2) var<storage, read> prm: array<f32>;
@group(0) @binding(3) var<storage, read> nrm: array<f32>;
${outArray(4, s.dtype)}
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
    let v = fma((1.0 - k.f) * ta + k.f * tb, scale, bias);
    y[(plane * u.S + oh) * u.Q + q] = ${store(s.dtype, 'v')};
  }
}`,
  rowsAny: (s) => /* wgsl */ `
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> prm: array<f32>;
@group(0) @binding(3) var<storage, read> nrm: array<f32>;
${outArray(4, s.dtype)}
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
  let v = vec4f(at(4u * i), at(4u * i + 1u), at(4u * i + 2u), at(4u * i + 3u));
  y[i] = ${store(s.dtype, 'v')};
}`,
};

const kernel = {
  key: (s: Spec) => `augment.${s.pass}/${s.dtype}`,
  wgsl: (s: Spec) => `${U.wgsl}\n@group(0) @binding(0) var<uniform> u: U;\n${TAPS}\n${WGSL[s.pass](s)}`,
};

/** Dimensions of the uint8 source batch. */
export interface ImageDims { N: number; C: number; H: number; W: number }
/** Output: square side S and activation dtype. */
export interface AugmentOut { size: number; dtype: DType }

/** Raw launch (no checks): y [N, C, S, S] from packed uint8 src and per-image params [N, PARAMS]. */
export function augmentRaw(src: Tensor, dims: ImageDims, params: Tensor, out: AugmentOut, mean: readonly number[], std: readonly number[]): Tensor {
  const { N, C, H, W } = dims, S = out.size, Q = Math.ceil(S / 4);
  // (v/255 - mean)/std as one fma; constants rounded once from float64
  const nrm = Tensor.from(Array.from({ length: 2 * C }, (_, i) => (i % 2 ? -mean[i >> 1] / std[i >> 1] : 1 / (255 * std[i >> 1]))), [C, 2]);
  const t = Tensor.empty([N, C, H, 4 * Q], 'f32');
  const y = Tensor.empty([N, C, S, S], out.dtype);
  const total = N * C * S * S, any = S % 4 !== 0;
  const pack = (work: number) => U.pack({ work, total, S, Q, C, H, W });
  launch(kernel, { pass: 'cols', dtype: 'f32' }, { uniforms: pack(N * C * Q), read: [src, params], write: [t], grid: grid1d(N * C * Q, WGC) });
  const work = any ? Math.ceil(total / 4) : N * C * Q;
  launch(kernel, { pass: any ? 'rowsAny' : 'rows', dtype: out.dtype }, { uniforms: pack(work), read: [t, params, nrm], write: [y], grid: grid1d(work, any ? WG : WGC) });
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
  const bytes = N * C * out.size * out.size * (out.dtype === 'f32' ? 4 : 2), max = device().limits.maxStorageBufferBindingSize;
  if (bytes > max) e.fail(`output ${out.dtype}${fmt([N, C, out.size, out.size])} is ${bytes} bytes, over this adapter's ${max}-byte binding limit: use a smaller batch`);
}

/**
 * Crop/flip/resize/normalise a packed uint8 batch on the GPU into an activation [N, C, S, S] of
 * out.dtype. params: [N, PARAMS] f32 from trainTransforms() / testTransforms(). Not differentiable.
 */
export const augmentBatch = defineOp('augment', {
  check,
  forward: (src: Tensor, dims: ImageDims, params: Tensor, out: AugmentOut, mean: readonly number[], std: readonly number[]) =>
    ({ y: augmentRaw(src, dims, params, out, mean, std), saved: {} }),
  backward: () => [null, null], // images and transform parameters are data: no gradient
});

// ---- host side: bytes in, per-image parameters out ----------------------------------------------

/** An uninitialised tensor holding `bytes` raw bytes packed 4 per word: shape [⌈bytes/4⌉]. */
export const byteTensor = (bytes: number): Tensor => Tensor.empty([Math.ceil(bytes / 4)], 'f32');

/** Write raw bytes into a byteTensor(), ordered with recorded work (1/4 of the traffic of write()). */
export function writeBytes(t: Tensor, bytes: Uint8Array): void {
  if (Math.ceil(bytes.length / 4) !== t.size) throw new Error(`writeBytes: ${bytes.length} bytes do not fit ${t} (needs [${Math.ceil(bytes.length / 4)}])`);
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

/** One image's random choices: crop origin in the padded image, horizontal flip. */
export interface CropChoice { oy: number; ox: number; flip: boolean }
/** Source H x W, zero padding `pad` per side, square crop `crop`, output side `size`, random flips. */
export interface TrainOpts { H: number; W: number; pad: number; crop: number; size: number; flip: boolean }

/**
 * PARAMS floats for one image: zero-pad by `pad`, crop Kh x Kw at (oy, ox) of the padded image,
 * flip if asked, resize to size x size. The test transform is pad 0, crop H x W at (0, 0).
 */
export function imageParams(pad: number, Kh: number, Kw: number, size: number, c: CropChoice): number[] {
  const x0 = c.ox - pad, y0 = c.oy - pad;   // crop origin in source coordinates
  // each call right-multiplies, so the list reads from the source side down to the output pixel
  const m: mat2d = [1, 0, 0, 1, 0, 0];       // plain numbers: composed in float64, rounded once on upload
  mat2d.translate(m, m, [x0, y0]);
  if (c.flip) { mat2d.translate(m, m, [Kw - 1, 0]); mat2d.scale(m, m, [-1, 1]); }
  mat2d.translate(m, m, [-0.5, -0.5]);
  mat2d.scale(m, m, [Kw / size, Kh / size]);
  mat2d.translate(m, m, [0.5, 0.5]);
  const [a, b, cc, d, tx, ty] = m;
  if (b !== 0 || cc !== 0) throw new Error('imageParams: the kernel samples separably, the map must not mix the axes');
  return [a, tx, d, ty, x0, y0, x0 + Kw - 1, y0 + Kh - 1];
}

/**
 * Each image's crop origin (oy, then ox, uniform in 0..H+2·pad-crop) and flip (p = 0.5; no draw
 * when flips are off), from a seeded stream.
 */
export function randomCrops(rng: Rng, N: number, o: TrainOpts): CropChoice[] {
  const ry = o.H + 2 * o.pad - o.crop + 1, rx = o.W + 2 * o.pad - o.crop + 1;
  if (!(ry > 0 && rx > 0)) throw new Error(`randomCrops: crop ${o.crop} does not fit ${o.H}x${o.W} padded by ${o.pad}`);
  return Array.from({ length: N }, () => {
    const oy = rng.int(ry), ox = rng.int(rx);
    return { oy, ox, flip: o.flip && rng.next() < 0.5 };
  });
}

/** Params [N·PARAMS] of the train transform (random crop of the padded image, flip, resize). */
export function trainTransforms(rng: Rng, N: number, o: TrainOpts): Float32Array {
  return Float32Array.from(randomCrops(rng, N, o).flatMap((c) => imageParams(o.pad, o.crop, o.crop, o.size, c)));
}

/** Params [N·PARAMS] of the test transform: resize the whole H x W image to size x size. */
export function testTransforms(N: number, o: { H: number; W: number; size: number }): Float32Array {
  const one = imageParams(0, o.H, o.W, o.size, { oy: 0, ox: 0, flip: false });
  return Float32Array.from({ length: N * PARAMS }, (_, i) => one[i % PARAMS]);
}
