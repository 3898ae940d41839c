import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deviceInfo, describeDevice, launch, withOp, sync, Tensor, grid1d, sizeClass } from '../../engine/index.ts';
import '../util/gpu.ts';

test('the adapter is described in one line with backend, features and limits', () => {
  const line = describeDevice();
  const i = deviceInfo();
  assert.not.match(line, /\n/);
  assert.match(line, i.backend);
  assert.match(line, /invocations\/wg \d+/);
  assert.match(line, /shader-f16/);
});

test('limits are raised to what the adapter offers (compat defaults are 128 invocations)', () => {
  assert.ok(deviceInfo().limits.maxComputeInvocationsPerWorkgroup >= 256);
  assert.ok(deviceInfo().limits.maxStorageBufferBindingSize > 128 * 2 ** 20 - 1);
});

test('grids beyond 65,535 workgroups fold into 2-D', () => {
  const [x, y] = grid1d(70000 * 256, 256);
  assert.ok(x <= deviceInfo().limits.maxComputeWorkgroupsPerDimension);
  assert.ok(x * y >= 70000);
  assert.equal(grid1d(10, 256), [1, 1, 1]);
});

test('a GPU validation error surfaces as an exception naming the op', async () => {
  const bad = { key: () => 'test.bad_binding', wgsl: () => `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main() { y[0] = 1.0; }` };
  const x = Tensor.zeros([4]);
  // binds a read-only tensor where the shader declares nothing at binding 1 for reading: layout mismatch
  withOp('myBrokenOp', () => launch(bad, {}, { buffers: [x, x], grid: [1, 1, 1] }));
  let err: Error | null = null;
  try { await sync(); } catch (e) { err = e as Error; }
  assert.ok(err, 'sync() must throw');
  assert.match(err!.message, /myBrokenOp/);
  x.dispose();
});

test('a tensor over the storage binding limit is refused by name, with what to do', () => {
  const { maxStorageBufferBindingSize: limit, maxBufferSize } = deviceInfo().limits;
  const k = { key: () => 'test.copy', wgsl: () => `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main() { y[0] = 1.0; }` };
  const over = limit / 4 + 64; // one binding's worth of f32 and a little more
  if (sizeClass(over * 4) <= maxBufferSize) {
    const big = Tensor.empty([over]);
    assert.throws(() => withOp('bigOp', () => launch(k, {}, { buffers: [big], grid: [1, 1, 1] })),
      (e: Error) => /^bigOp: f32\[\d+\] \(\d+ bytes\) is over this adapter's \d+-byte .* binding limit and this kernel does not window it: use a smaller batch/.test(e.message));
    big.dispose();
  } else if (over * 4 > maxBufferSize) {
    // buffers no larger than a binding (SwiftShader: 1 GiB each): such a tensor is refused when made
    assert.throws(() => Tensor.empty([over]), /^Tensor: f32\[\d+\] would be \d+ bytes .* over this adapter's largest buffer/);
  } else {
    // it fits the largest buffer but the pool's size class does not: refused at allocation
    assert.throws(() => Tensor.empty([over]), /^cannot allocate \d+ bytes: this adapter's largest buffer is \d+ bytes; use a smaller batch/);
  }
  // over the largest buffer: refused when the tensor is made, naming it, its size and the limit
  const huge = Math.floor(maxBufferSize / 4) + 1;
  assert.throws(() => Tensor.empty([2, huge]), (e: Error) => e.message === `Tensor: f32[2, ${huge}] would be ${8 * huge} bytes (${(8 * huge / 2 ** 20).toFixed(0)} MiB), over this adapter's largest buffer ` +
    `(maxBufferSize ${maxBufferSize} bytes, ${(maxBufferSize / 2 ** 20).toFixed(0)} MiB): use a smaller batch or image size (training: --micro-batch)`);
  // a byte range over the limit, on any adapter
  const small = Tensor.empty([64]);
  assert.throws(() => withOp('bigOp', () => launch(k, {}, { buffers: [{ tensor: small, offset: 0, size: limit + 256 }], grid: [1, 1, 1] })),
    (e: Error) => /^bigOp: a \d+-byte range of f32\[64\] is over this adapter's \d+-byte .* binding limit and this kernel does not window it: use a smaller batch/.test(e.message));
  small.dispose();
});

test.run();
