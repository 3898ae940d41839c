import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, scope, poolStats, toHalfBits, fromHalfBits, sizeClass, OpError } from '../../engine/index.ts';
import { upload, download } from '../util/gpu.ts';

test('f32 and f16 round trip through the GPU (odd lengths)', async () => {
  const data = Float32Array.from({ length: 37 }, (_, i) => (i - 18) * 0.37);
  assert.equal(Array.from(await download(upload(data, [37], 'f32'))), Array.from(data));
  const h = await download(upload(data, [37], 'f16'));
  for (let i = 0; i < 37; i++) assert.ok(Math.abs(h[i] - data[i]) <= Math.abs(data[i]) * 2 ** -11, `f16 [${i}] ${h[i]} vs ${data[i]}`);
});

test('host half conversion is exact on every half and rounds to nearest even', () => {
  for (let b = 0; b < 0x10000; b++) {
    const v = fromHalfBits(b);
    if (Number.isNaN(v)) continue;
    assert.is(toHalfBits(v), b === 0x8000 ? 0x8000 : b, `bits ${b.toString(16)}`);
  }
  assert.is(toHalfBits(1 + 2 ** -11), toHalfBits(1)); // tie -> even
  assert.is(toHalfBits(1 + 3 * 2 ** -11), toHalfBits(1 + 2 ** -9)); // tie -> even (up)
  assert.is(fromHalfBits(toHalfBits(70000)), Infinity);
  assert.is(fromHalfBits(toHalfBits(65504)), 65504);
  assert.is(fromHalfBits(toHalfBits(2 ** -24)), 2 ** -24);
});

test('using a disposed tensor is a clear error', async () => {
  const t = Tensor.zeros([3]);
  t.dispose();
  assert.throws(() => t.buffer, /Tensor#\d+ f32\[3\] used after dispose\(\)/);
  try { await t.read(); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /used after dispose/); }
  t.dispose(); // idempotent
});

test('wrong data length names the shape', () => {
  assert.throws(() => Tensor.from([1, 2, 3], [2, 2]), (e: Error) => e instanceof OpError && /3 elements but shape \[2, 2\] needs 4/.test(e.message));
});

test('scope frees everything created inside except what it returns', () => {
  const before = poolStats().liveBytes;
  const kept = scope(() => {
    Tensor.zeros([1000]);
    Tensor.zeros([2000]);
    return Tensor.zeros([10]);
  });
  assert.is(poolStats().liveBytes - before, sizeClass(40));
  kept.dispose();
  assert.is(poolStats().liveBytes, before);
});

test('nested scopes hand returned tensors to the outer scope', () => {
  const before = poolStats().liveBytes;
  scope(() => {
    const inner = scope(() => Tensor.zeros([5]));
    assert.not.ok(inner.isDisposed);
  });
  assert.is(poolStats().liveBytes, before);
});

test('views and shares keep the storage until the last handle is gone', async () => {
  const before = poolStats().liveBytes;
  const t = upload([1, 2, 3, 4, 5, 6], [2, 3]);
  const v = t.reshapeView([3, 2]);
  const s = t.share();
  t.dispose();
  assert.equal(Array.from(await v.read()), [1, 2, 3, 4, 5, 6]);
  v.dispose();
  assert.equal(Array.from(await s.read()), [1, 2, 3, 4, 5, 6]);
  s.dispose();
  assert.is(poolStats().liveBytes, before);
  assert.throws(() => upload([1, 2], [2]).reshapeView([3]), /cannot view \[2\]/);
});

test('the pool reuses freed buffers by size class', () => {
  const s0 = poolStats();
  for (let i = 0; i < 20; i++) Tensor.zeros([1000 + i]).dispose();
  const s1 = poolStats();
  assert.ok(s1.allocations - s0.allocations <= 1, `allocations grew by ${s1.allocations - s0.allocations}`);
  assert.ok(s1.reuses - s0.reuses >= 19);
  // the peak is process-wide (earlier files may have peaked higher): compare with where it stood
  assert.is(s1.peakBytes, Math.max(s0.peakBytes, s0.liveBytes + sizeClass(4000)), 'peak');
  const past = Tensor.empty([(s1.peakBytes - s1.liveBytes) / 4 + 1]); // 4 bytes past the high-water mark
  assert.is(poolStats().peakBytes, s1.liveBytes + sizeClass(s1.peakBytes - s1.liveBytes + 4), 'peak rises with live bytes');
  past.dispose();
});

test('size classes waste at most 25% (beyond the 256-byte minimum)', () => {
  for (const b of [1, 255, 256, 257, 1000, 4096, 5000, 123457, 3e8]) {
    const c = sizeClass(b);
    assert.ok(c >= b && c % 256 === 0, `class ${c} for ${b}`);
    if (b > 1024) assert.ok(c <= b * 1.25 + 256, `class ${c} for ${b}`);
  }
});

test.run();
