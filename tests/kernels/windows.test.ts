import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, bindingLimit, deviceInfo, setBindingLimit } from '../../engine/index.ts';
import { batchWindows, rowsOf } from '../../kernels/windows.ts';
import { add, relu, scale } from '../../kernels/elementwise.ts';
import { upload, DTYPES_UNDER_TEST } from '../util/gpu.ts';
import { withBindingLimit, expectWindowedSame } from '../util/windows.ts';

const align = deviceInfo().limits.minStorageBufferOffsetAlignment;

test('the binding limit: the adapter\'s by default, lowered for tests, restored; bad limits refused', async () => {
  const adapter = deviceInfo().limits.maxStorageBufferBindingSize;
  assert.is(bindingLimit(), adapter);
  await withBindingLimit(4096, () => assert.is(bindingLimit(), 4096));
  assert.is(bindingLimit(), adapter);
  assert.throws(() => setBindingLimit(1000), /whole number of 16-byte vectors, at least 256 bytes, got 1000/);
  assert.throws(() => setBindingLimit(128), /at least 256 bytes/);
});

test('windows: one whole window while everything fits; aligned windows of the most rows under the limit', async () => {
  const x = Tensor.zeros([10, 3, 5, 7]); // rows of 420 bytes
  assert.equal(batchWindows('t', 10, [x]), [{ first: 0, count: 10 }]);
  assert.is(rowsOf(x, 10, { first: 0, count: 10 }), x);
  await withBindingLimit(2048, () => {
    // 420 = 4·105: a window must start on a multiple of align/4 rows (64 for 256), more than 10 rows in all
    assert.throws(() => batchWindows('t', 10, [x]), /f32\[10, 3, 5, 7\] \(4200 bytes\) is over the 2048-byte storage binding limit, and a window must hold a multiple of 64 rows \(so that every windowed tensor's windows start on the 256-byte offset alignment\), 26880 bytes of it/);
  });
  const y = Tensor.zeros([12, 64]); // rows of 256 bytes
  await withBindingLimit(1024, () => {
    const w = batchWindows('t', 12, [y]);
    assert.equal(w, [{ first: 0, count: 4 }, { first: 4, count: 4 }, { first: 8, count: 4 }]);
    assert.equal(rowsOf(y, 12, w[1]!), { tensor: y, offset: 1024, size: 1024 });
  });
  const h = Tensor.zeros([5, 3], 'f16'); // flat windows of single halves: starts on multiples of align/2 elements
  await withBindingLimit(256, () => {
    const w = batchWindows('t', 15, [h]);
    assert.equal(w, [{ first: 0, count: 15 }], 'a 32-byte tensor fits');
  });
  const big = Tensor.zeros([1000], 'f16');
  await withBindingLimit(512, () => {
    const w = batchWindows('t', 1000, [big]);
    assert.equal(w.map((v) => v.first), [0, 256, 512, 768]);
    assert.equal(rowsOf(big, 1000, w[3]!), { tensor: big, offset: 1536, size: 464 }, 'the last window rounds up to whole 16-byte vectors');
    assert.ok(w.every((v) => (v.first * 2) % align === 0));
  });
  [x, y, h, big].forEach((t) => t.dispose());
});

// Catches: a flat op binding a tensor over the limit whole, a window's vector count or offset off by one (the
// tail of an odd-sized f16 tensor, the element at a window's edge).
for (const dtype of DTYPES_UNDER_TEST) {
  for (const shape of [[3, 1000], [2, 3, 37, 29]]) {
    test(`elementwise ${dtype} [${shape}] in windows equals the whole-tensor result`, async () => {
      const n = shape.reduce((p, q) => p * q, 1), rng = new Rng(n);
      const A = upload(rng.uniforms(n, -2, 2), shape, dtype), B = upload(rng.uniforms(n, -2, 2), shape, dtype);
      await expectWindowedSame('add/relu/scale', { limit: 1024, run: () => [add(A, B), relu(A), scale(B, 0.3)] });
      A.dispose(); B.dispose();
    });
  }
}

test.run();
