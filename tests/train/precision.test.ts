import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolvePrecision, precisionReason } from '../../train/adapter.ts';

test('--precision auto: f16 only on a GPU with shader-f16; explicit choices obeyed; the reason says why', () => {
  const gpu16 = { shaderF16: true, software: false }, gpu = { shaderF16: false, software: false }, cpu16 = { shaderF16: true, software: true };
  assert.is(resolvePrecision('auto', gpu16), 'f16');
  assert.is(resolvePrecision('auto', gpu), 'f32');
  assert.is(resolvePrecision('auto', cpu16), 'f32');
  assert.is(resolvePrecision('fp16', gpu), 'f16');
  assert.is(resolvePrecision('fp32', gpu16), 'f32');
  assert.match(precisionReason(gpu16), /GPU/);
  assert.match(precisionReason(gpu), /no shader-f16/);
  assert.match(precisionReason(cpu16), /CPU adapter/);
});

test.run();
