// Tensor creation refuses a shape that is not a list of non-negative integers before touching the GPU,
// naming the operation and the first bad dimension.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../util/gpu.ts';
import { OpError, Tensor } from '../../engine/index.ts';

const refused = (f: () => unknown, message: string) =>
  assert.throws(f, (e: Error) => e instanceof OpError && e.message.includes(message), message);

test('NaN, negative, fractional and infinite dimensions are refused with the shape named', () => {
  refused(() => Tensor.zeros([NaN]), 'invalid shape [NaN]: dimension 0 is NaN; dimensions must be non-negative integers');
  refused(() => Tensor.from([], [-1]), 'invalid shape [-1]: dimension 0 is -1');
  refused(() => Tensor.empty([2, 1.5]), 'invalid shape [2, 1.5]: dimension 1 is 1.5');
  refused(() => Tensor.full([Infinity], 0), 'dimension 0 is Infinity');
  refused(() => Tensor.zeros([3, '4' as unknown as number]), 'dimension 1 is "4"');
  refused(() => Tensor.zeros(5 as unknown as number[]), 'shape must be an array of dimensions, got 5');
  const t = Tensor.zeros([2, 3]);
  refused(() => t.reshapeView([-2, -3]), 'invalid shape [-2, -3]: dimension 0 is -2');
  t.dispose();
  Tensor.zeros([0, 4]).dispose(); // empty tensors are fine
});

test.run();
