// A short soak: replayed training steps must not grow device memory (the buffer pool) or the process's
// resident set once warm. The pool check catches any tensor or staging buffer leaked per step (the
// pool would grow by at least one buffer per step); the RSS bound catches host memory kept per step
// of about 270 KiB or more (60 steps x 270 KiB = 16 MiB), e.g. a copy of each step's f32 inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../util/gpu.ts';
import { growth, soak, soakCase } from '../../train/soak.ts';

test('100 replayed steps: pool bytes flat and RSS within 16 MiB after step 40', async () => {
  const samples = await soak(soakCase(), 100, 20);
  const g = growth(samples, 40);
  assert.is(g.poolBytes, 0, `pool grew by ${g.poolBytes} bytes: ${samples.map((s) => s.poolBytes).join(', ')}`);
  assert.ok(g.rssBytes < 16 * 2 ** 20, `RSS grew by ${(g.rssBytes / 2 ** 20).toFixed(1)} MiB: ${samples.map((s) => (s.rssBytes / 2 ** 20).toFixed(0)).join(', ')}`);
});

test.run();
