// A short soak: replayed training steps must not grow device memory (the buffer pool) or host memory
// once warm. The pool check catches any tensor or staging buffer leaked per step (the pool would grow by
// at least one buffer per step). Host memory is judged by its growth per step after the warm-up, the
// smaller of the median over 10-step intervals and the rise of the floor (a one-off jump in a process
// shared with the whole suite, or a driver swinging by 100 MiB a step, moves neither): ArrayBuffer
// bytes catch typed arrays kept per step from 64 KiB (a copy of each step's 192 KiB input batch fails,
// shown below). RSS swings by +-20 MiB between samples on lavapipe (measured in CI), which over the
// 60 judged steps reads as up to ~400 KiB/step either way, so its bound is 1 MiB/step. Proving that it
// catches native memory needs a planted leak larger than the swings: SwiftShader's RSS moved by 130 MiB
// between two samples in CI, which hid a 4 MiB/step leak (40 MiB per sample), so the planted one keeps
// 32 MiB per step (320 MiB per sample). Smaller native leaks need more steps than a test can afford
// (`npm run bench:soak` runs 2,000).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../util/gpu.ts';
import { device } from '../../engine/index.ts';
import { growth, soak, soakCase, type SoakSample } from '../../train/soak.ts';

const KIB = 1024, ARRAY_BOUND = 64 * KIB, RSS_BOUND = 1024 * KIB, LEAK_BYTES = 32 * 2 ** 20;
const list = (samples: SoakSample[], bytes: (s: SoakSample) => number) => samples.map((s) => (bytes(s) / 2 ** 20).toFixed(1)).join(', ') + ' MiB';
const synthetic = (rss: (step: number) => number): SoakSample[] =>
  Array.from({ length: 11 }, (_, i) => ({ step: i * 10, poolBytes: 0, liveBytes: 0, rssBytes: rss(i * 10), arrayBytes: rss(i * 10), heapBytes: 0, ms: 0 }));

test('growth: a one-off jump is not a leak rate; memory kept every step is', () => {
  const base = 2000 * 2 ** 20;
  const jump = growth(synthetic((s) => base + (s >= 90 ? 30 * 2 ** 20 : 0) + (s === 60 ? 3 * 2 ** 20 : 0)), 40);
  assert.ok(jump.rssBytesPerStep < RSS_BOUND, `one-off jump read as ${jump.rssBytesPerStep} B/step`);
  assert.is(jump.rssBytes, 30 * 2 ** 20);
  const leak = growth(synthetic((s) => base + s * 1200 * KIB + ((s * 7919) % 13) * 160 * KIB), 40);
  assert.ok(leak.rssBytesPerStep >= RSS_BOUND, `a 1200 KiB/step leak read as ${leak.rssBytesPerStep} B/step`);
  assert.throws(() => growth(synthetic(() => base).slice(0, 5), 40), /fewer than two samples/);
});

test('growth: a driver that takes and returns 100 MiB between samples is not a leak (SwiftShader, measured)', () => {
  const mib = [1108.2, 1119.3, 1188.0, 1148.9, 1194.8, 1293.3, 1118.3, 1108.1, 1124.1, 1168.3];
  const swings = growth(synthetic((s) => (mib[s / 10 - 1] ?? mib[0]!) * 2 ** 20), 40);
  assert.ok(swings.rssBytesPerStep < RSS_BOUND, `swings read as ${(swings.rssBytesPerStep / KIB).toFixed(0)} KiB/step`);
});

test('growth: lavapipe swinging by 20 MiB between samples is not a leak (CI, measured)', () => {
  const mib = [2882.7, 2877.2, 2862.5, 2884.9, 2893.6, 2884.5, 2875.8, 2874.2, 2886.5, 2886.5];
  const swings = growth(synthetic((s) => (mib[s / 10 - 1] ?? mib[0]!) * 2 ** 20), 40);
  assert.ok(swings.rssBytesPerStep < RSS_BOUND, `swings read as ${(swings.rssBytesPerStep / KIB).toFixed(0)} KiB/step`);
});

test('100 replayed steps: pool bytes flat, host memory growth per step within bounds after step 40', async () => {
  const samples = await soak(soakCase(), 100, 10);
  const g = growth(samples, 40);
  assert.is(g.poolBytes, 0, `pool grew by ${g.poolBytes} bytes: ${samples.map((s) => s.poolBytes).join(', ')}`);
  assert.ok(g.arrayBytesPerStep < ARRAY_BOUND, `ArrayBuffers grew ${(g.arrayBytesPerStep / KIB).toFixed(0)} KiB per step (median): ${list(samples, (s) => s.arrayBytes)}`);
  assert.ok(g.rssBytesPerStep < RSS_BOUND, `RSS grew ${(g.rssBytesPerStep / KIB).toFixed(0)} KiB per step (median): ${list(samples, (s) => s.rssBytes)}`);
});

test('the same soak keeping a copy of the input batch per step fails the ArrayBuffer bound', async () => {
  const kept: Float32Array[] = [];
  const c = soakCase();
  const samples = await soak(c, 50, 10, (step) => { kept.push(new Float32Array(c.batch * 3 * c.imageSize * c.imageSize).fill(step)); });
  const g = growth(samples, 10);
  assert.ok(g.arrayBytesPerStep >= ARRAY_BOUND, `a 192 KiB/step leak read as ${(g.arrayBytesPerStep / KIB).toFixed(0)} KiB per step: ${list(samples, (s) => s.arrayBytes)}`);
  kept.length = 0;
});

test('the same soak keeping a 32 MiB mapped buffer per step fails the RSS bound (native memory)', async () => {
  // a mappable buffer kept mapped is host memory on every adapter (a GPU's host-visible memory or
  // staging copy, a CPU adapter's own); written so every page is resident
  const kept: GPUBuffer[] = [];
  try {
    const samples = await soak(soakCase(), 40, 10, (step) => {
      const b = device().createBuffer({ size: LEAK_BYTES, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
      new Uint32Array(b.getMappedRange()).fill(step);
      kept.push(b);
    });
    const g = growth(samples, 10);
    assert.ok(g.rssBytesPerStep >= RSS_BOUND, `a ${LEAK_BYTES / 2 ** 20} MiB/step native leak read as ${(g.rssBytesPerStep / KIB).toFixed(0)} KiB per step: ${list(samples, (s) => s.rssBytes)}`);
  } finally {
    for (const b of kept.splice(0)) b.destroy();
  }
});

test.run();
