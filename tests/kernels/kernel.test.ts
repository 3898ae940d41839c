import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, OpError, defineOp, deviceInfo, grid1d, backward, writeBuffer } from '../../engine/index.ts';
import { mul } from '../../kernels/elementwise.ts';
import { sum } from '../../kernels/reduce.ts';
import { defineKernel, input, output, f16Storage, setF16Storage, bufferWgsl } from '../../kernels/kernel.ts';
import { WG, builtins, flatIndex, pairs, storePair } from '../../kernels/wgsl.ts';
import { upload, download, quantize, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { expectClose, expectFailure, TOL } from '../util/check.ts';
import type { DType } from '../../engine/index.ts';

// A new op from a spec, as the README shows: y = alpha·x + b, backward dx = alpha·dy, db = dy.
const axpb = defineKernel({
  name: 'test.axpb',
  variant: (s: { dtype: DType }) => s.dtype,
  uniforms: { n: 'u32', alpha: 'f32' },
  buffers: (s) => [input('x', s.dtype), input('b', s.dtype), output('y', s.dtype)],
  body: () => `
fn f(i: u32) -> f32 { return u.alpha * ld_x(i) + ld_b(i); }
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  if (p >= (u.n + 1u) / 2u) { return; }
  ${storePair('y', 'f', 'u.n')}
}`,
});
const axpbForward = (x: Tensor, b: Tensor, alpha: number) => {
  const y = Tensor.empty(x.shape, x.dtype);
  axpb.run({ dtype: x.dtype }, { uniforms: { n: x.size, alpha }, buffers: { x, b, y }, grid: grid1d(pairs(x.size), WG) });
  return y;
};
const axpbOp = defineOp('axpb', {
  check: (e, x: Tensor, b: Tensor) => e.sameShape('x', x, 'b', b),
  forward: (x: Tensor, b: Tensor, alpha: number) => ({ y: axpbForward(x, b, alpha), saved: { alpha, zero: Tensor.zeros(x.shape, x.dtype) } }),
  backward: (dy, { alpha, zero }) => [axpbForward(dy, zero, alpha), axpbForward(dy, zero, 1)],
});

for (const dtype of DTYPES_UNDER_TEST) {
  test(`a spec-built op (alpha·x + b) matches float64, ${dtype}, odd size, forward and backward`, async () => {
    const rng = new Rng(5);
    const n = 2 * 3 * 13;
    const x = quantize(rng.uniforms(n, -2, 2), dtype), b = quantize(rng.uniforms(n, -2, 2), dtype);
    const X = upload(x, [2, 3, 13], dtype), B = upload(b, [2, 3, 13], dtype);
    // one f32 product and sum, rounded once to the output dtype
    expectClose(await download(axpbOp(X, B, -1.25)), x.map((v, i) => -1.25 * v + b[i]), TOL[dtype], 'forward');
    // L = Σ r·y: dL/dx = alpha·r, dL/db = r
    const r = quantize(rng.uniforms(n, -1, 1), dtype);
    const Xg = upload(x, [2, 3, 13], dtype, { requiresGrad: true }), Bg = upload(b, [2, 3, 13], dtype, { requiresGrad: true });
    const R = upload(r, [2, 3, 13], dtype);
    backward(sum(mul(axpbOp(Xg, Bg, -1.25), R)));
    expectClose(await Xg.grad!.read(), r.map((v) => -1.25 * v), TOL[dtype], 'dx');
    expectClose(await Bg.grad!.read(), r, TOL[dtype], 'db');
    for (const t of [X, B, Xg, Bg, R]) t.dispose();
  });
}

// Two kernels reading every buffer kind the spec offers and copying it out through the accessors, each
// within 8 storage buffers (WebGPU's default per-stage limit; SwiftShader offers 12, llvmpipe 16).
const copyWords = defineKernel({
  name: 'test.copyWords',
  variant: () => 'all',
  uniforms: { n: 'u32' },
  buffers: () => [
    input('f1', 'f32'), input('f2', 'f32', 2), input('f4', 'f32', 4), input('ui', 'u32'), input('si', 'i32'), input('bytes', 'u8'),
    output('o32', 'f32', 4), output('oint', 'f32', 4),
  ],
  body: () => `
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()}; // one invocation per vec4
  if (i >= u.n) { return; }
  let f2 = vec4f(ld_f2(2u * i), ld_f2(2u * i + 1u));
  st_o32(i, ld_f4(i) + f2 + vec4f(ld_f1(4u * i), ld_f1(4u * i + 1u), ld_f1(4u * i + 2u), ld_f1(4u * i + 3u)));
  st_oint(i, vec4f(f32(ld_ui(i)), f32(ld_si(i)), f32(ld_bytes(4u * i + 1u)), 0.0));
}`,
});
const copyHalves = defineKernel({
  name: 'test.copyHalves',
  variant: () => 'all',
  uniforms: { n: 'u32' },
  buffers: () => [input('h1', 'f16'), input('h2', 'f16', 2), input('h4', 'f16', 4), output('o16', 'f16', 4), output('oh1', 'f16')],
  body: () => `
fn half1(i: u32) -> f32 { return ld_h1(i); }
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()}; // one invocation per vec4
  if (i >= u.n) { return; }
  let h2 = vec4f(ld_h2(2u * i), ld_h2(2u * i + 1u));
  st_o16(i, ld_h4(i) + h2);
  for (var p = 2u * i; p < 2u * i + 2u; p++) {
    ${storePair('oh1', 'half1', '4u * u.n')}
  }
}`,
});

test('generated accessors read and write every buffer kind (f32, f16 vec 1/2/4, u32, i32, u8)', async () => {
  const n = 6; // vec4s
  const rng = new Rng(9);
  const vals = () => quantize(rng.uniforms(4 * n, -3, 3), 'f16');
  const a = vals(), b = vals(), c = vals(), d = vals(), e = vals(), f = vals();
  const ints = Uint32Array.from({ length: 4 * n }, (_, i) => 1000 + i);
  const signed = Int32Array.from({ length: 4 * n }, (_, i) => -7 * i);
  const bytes = Uint8Array.from({ length: 16 * n }, (_, i) => (i * 37) % 256);
  const raw = (data: ArrayBufferView) => { // the words as they are (an f32 tensor is just their storage)
    const t = Tensor.empty([data.byteLength / 4], 'f32');
    writeBuffer(t.buffer, 0, data);
    return t;
  };
  const W = {
    f1: upload(a, [4 * n]), f2: upload(b, [4 * n]), f4: upload(c, [4 * n]), ui: raw(ints), si: raw(signed), bytes: raw(bytes),
    o32: Tensor.empty([4 * n]), oint: Tensor.empty([4 * n]),
  };
  const H = {
    h1: upload(d, [4 * n], 'f16'), h2: upload(e, [4 * n], 'f16'), h4: upload(f, [4 * n], 'f16'),
    o16: Tensor.empty([4 * n], 'f16'), oh1: Tensor.empty([4 * n], 'f16'),
  };
  copyWords.run(undefined, { uniforms: { n }, buffers: W, grid: grid1d(n, WG) });
  copyHalves.run(undefined, { uniforms: { n }, buffers: H, grid: grid1d(n, WG) });
  const T = { ...W, ...H };
  const idx = Array.from({ length: 4 * n }, (_, i) => i);
  assert.equal(Array.from(await T.o32.read()), Array.from(Float32Array.from(idx, (i) => c[i] + b[i] + a[i])), 'f32 vec4 + vec2 + scalar');
  expectClose(await T.o16.read(), idx.map((i) => f[i] + e[i]), TOL.f16, 'f16 vec4 + vec2');
  assert.equal(Array.from(await T.oh1.read()), Array.from(Float32Array.from(d)), 'f16 scalar copy through st2 pairs');
  const oint = await T.oint.read();
  for (let i = 0; i < n; i++) {
    assert.equal([oint[4 * i], oint[4 * i + 1], oint[4 * i + 2]], [ints[i], signed[i], bytes[4 * i + 1]], `integers and bytes at ${i}`);
  }
  for (const t of Object.values(T)) t.dispose();
});

// The 16-byte f16 form (vec 8, mat2x4f), u16 integers at every width, and round_x (two kernels, each
// within 8 storage buffers).
const wideHalves = defineKernel({
  name: 'test.wideHalves',
  variant: () => 'wide',
  uniforms: { n: 'u32' },
  buffers: () => [input('h8', 'f16', 8), input('h1', 'f16'), input('h2', 'f16', 2), output('o8', 'f16', 8), output('r', 'f32', 4)],
  body: () => `
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()}; // one invocation per 8 elements
  if (i >= u.n) { return; }
  st_o8(i, ld_h8(i) * 2.0);
  // 1 + 2^-12 is 1 in f16 (10 mantissa bits) and itself in f32
  let v = 1.0 + 1.0 / 4096.0;
  st_r(i, vec4f(round_h8(vec4f(v)).x, round_h1(v), round_h2(vec2f(v)).y, round_r(vec4f(v)).w));
}`,
});
const wideInts = defineKernel({
  name: 'test.wideInts',
  variant: () => 'wide',
  uniforms: { n: 'u32' },
  buffers: () => [input('w1', 'u16'), input('w2', 'u16', 2), input('w4', 'u16', 4), input('w8', 'u16', 8), output('ou1', 'u16'), output('ou8', 'u16', 8)],
  body: () => `
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()}; // one invocation per 8 elements
  if (i >= u.n) { return; }
  st_ou8(i, ld_w8(i));
  // every u16 width reads the same element 8i + 5
  st2_ou1(4u * i, vec2u(ld_w1(8u * i + 5u), ld_w2(4u * i + 2u).y));
  st2_ou1(4u * i + 1u, vec2u(ld_w4(2u * i + 1u).y, ld_w8(i)[1].y));
  st2_ou1(4u * i + 2u, vec2u(0u, 0u));
  st2_ou1(4u * i + 3u, vec2u(0u, 0u));
}`,
});

test('vec 8 f16 (mat2x4f), u16 at widths 1/2/4/8 and round_x follow the storage they name', async () => {
  const n = 3;
  const rng = new Rng(4);
  const h = quantize(rng.uniforms(8 * n, -3, 3), 'f16');
  const ints = Uint16Array.from({ length: 8 * n }, (_, i) => (i * 2741 + 11) % 65536);
  const words = () => { const t = Tensor.empty([4 * n], 'f32'); writeBuffer(t.buffer, 0, ints); return t; };
  const H = { h8: upload(h, [8 * n], 'f16'), h1: Tensor.zeros([2], 'f16'), h2: Tensor.zeros([2], 'f16'), o8: Tensor.empty([8 * n], 'f16'), r: Tensor.empty([4 * n]) };
  const I = { w1: words(), w2: words(), w4: words(), w8: words(), ou1: Tensor.empty([4 * n]), ou8: Tensor.empty([4 * n]) };
  wideHalves.run(undefined, { uniforms: { n }, buffers: H, grid: grid1d(n, WG) });
  wideInts.run(undefined, { uniforms: { n }, buffers: I, grid: grid1d(n, WG) });
  const T = { ...H, ...I };
  assert.equal(Array.from(await T.o8.read()), Array.from(h, (v) => 2 * v), 'f16 vec 8 load and store (doubling is exact)');
  const u16 = async (t: Tensor) => new Uint16Array((await t.read()).buffer);
  assert.equal(Array.from(await u16(T.ou8)), Array.from(ints), 'u16 vec 8 copy');
  const ou1 = await u16(T.ou1);
  for (let i = 0; i < n; i++) assert.equal(Array.from(ou1.slice(8 * i, 8 * i + 4)), [5, 5, 5, 5].map(() => ints[8 * i + 5]), `u16 widths 1/2/4/8 at ${i}`);
  const r = await T.r.read();
  for (let i = 0; i < n; i++) assert.equal(Array.from(r.slice(4 * i, 4 * i + 4)), [1, 1, 1, Math.fround(1 + 1 / 4096)], `round_ at ${i}: f16 rounds, f32 keeps`);
  for (const t of Object.values(T)) t.dispose();
});

test('binding by name: a missing, unknown or mistyped buffer is refused naming the kernel and buffer', () => {
  const x = Tensor.zeros([4]), b = Tensor.zeros([4]), y = Tensor.empty([4]), h = Tensor.zeros([4], 'f16');
  const go = (buffers: Record<string, Tensor>) => () => axpb.run({ dtype: 'f32' }, { uniforms: { n: 4, alpha: 1 }, buffers, grid: [1, 1, 1] });
  expectFailure(go({ x, y }), /test\.axpb: buffer b was not given/, 'missing');
  expectFailure(go({ x, b, y, z: y }), /test\.axpb: no buffer named z/, 'unknown');
  expectFailure(go({ x, b: h, y }), /test\.axpb: buffer b is declared f32 but got a f16 tensor/, 'dtype');
  expectFailure(() => axpb.run({ dtype: 'f32' }, { uniforms: { n: 4 } as never, buffers: { x, b, y }, grid: [1, 1, 1] }), /test\.axpb: uniform alpha/, 'uniform');
  for (const t of [x, b, y, h]) t.dispose();
});

test('f16 storage: native where the device has shader-f16 (and it is the mode used), packed halves elsewhere', () => {
  const native = deviceInfo().shaderF16;
  assert.is(f16Storage(), native ? 'native' : 'packed', 'default mode follows shader-f16');
  const text = axpb.wgsl({ dtype: 'f16' });
  assert.is(text.includes('enable f16;'), native, 'enable f16 only in native mode');
  assert.ok(/array<f16>/.test(text) === native && /array<u32>/.test(text) === !native, 'storage type of the f16 buffers');
  if (!native) expectFailure(() => setF16Storage('native'), /shader-f16/, 'native refused without shader-f16');
  // both modes generate valid declarations for every vector width (compiled above where native runs)
  for (const mode of ['packed', 'native'] as const) {
    for (const vec of [1, 2, 4] as const) assert.match(bufferWgsl(output('z', 'f16', vec), 3, mode), /@binding\(3\)/);
  }
  assert.throws(() => bufferWgsl(output('z', 'u8'), 1, 'packed'), /read-only/);
});

test('the packed path stays available on a native device (same bytes either way)', async () => {
  if (!deviceInfo().shaderF16) return; // packed is the only mode here, covered by every other f16 test
  const rng = new Rng(3);
  const x = quantize(rng.uniforms(11, -2, 2), 'f16'), b = quantize(rng.uniforms(11, -2, 2), 'f16');
  const X = upload(x, [11], 'f16'), B = upload(b, [11], 'f16');
  const got: Float32Array[] = [];
  for (const mode of ['packed', 'native'] as const) {
    setF16Storage(mode);
    try { got.push(await download(axpbForward(X, B, 0.5))); } finally { setF16Storage(null); }
  }
  assert.equal(Array.from(got[0]), Array.from(got[1]), 'packed and native agree bit for bit');
  X.dispose(); B.dispose();
});

test('OpError is what a spec misuse throws', () => {
  assert.throws(() => axpb.run({ dtype: 'f32' }, { buffers: {}, grid: [1, 1, 1] }), (e: unknown) => e instanceof OpError);
});

test.run();
