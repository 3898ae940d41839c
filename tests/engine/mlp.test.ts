// End to end through the engine: an MLP learns XOR, the pool does not grow, replay equals eager.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, capture, poolStats, deviceInfo } from '../../engine/index.ts';
import { Mlp, xorBatch } from '../util/mlp.ts';
import '../util/gpu.ts';

const N = 64;

function io() {
  return { x: Tensor.zeros([N, 2]), t: Tensor.zeros([N, 1]), hyper: Tensor.from([0.05, 0.9, 1e-4, 1], [4]) };
}

test('a 2-layer MLP learns XOR', async () => {
  const mlp = new Mlp(32, 1), data = new Rng(2), { x, t, hyper } = io();
  let first = 0, last = 0;
  for (let i = 0; i < 300; i++) {
    const b = xorBatch(data, N);
    x.write(b.x); t.write(b.t);
    const loss = mlp.step(x, t, hyper);
    if (i === 0) first = (await loss.read())[0];
    if (i === 299) last = (await loss.read())[0];
    loss.dispose();
  }
  assert.ok(first > 0.8, `initial loss ${first}`);
  assert.ok(last < 0.25 * first, `loss ${first} -> ${last}`);
  mlp.dispose(); x.dispose(); t.dispose(); hyper.dispose();
});

test('buffer pool stats do not grow over 100 training steps', async () => {
  const mlp = new Mlp(16, 3), data = new Rng(4), { x, t, hyper } = io();
  const run = (k: number) => { for (let i = 0; i < k; i++) { const b = xorBatch(data, N); x.write(b.x); t.write(b.t); mlp.step(x, t, hyper).dispose(); } };
  run(3);
  await x.read();
  const s0 = poolStats();
  run(100);
  await x.read();
  const s1 = poolStats();
  assert.is(s1.liveBytes, s0.liveBytes, 'live bytes');
  assert.is(s1.allocations, s0.allocations, 'allocations');
  assert.is(s1.totalBytes, s0.totalBytes, 'pool size');
  mlp.dispose(); x.dispose(); t.dispose(); hyper.dispose();
});

test('a captured step replays exactly what eager execution computes', async () => {
  const eager = new Mlp(24, 5), replayed = new Mlp(24, 5);
  const a = io(), b = io();
  const batches = Array.from({ length: 12 }, (_, i) => xorBatch(new Rng(100 + i), N));
  const lr = (i: number) => 0.05 * (1 - i / 12); // changes every step: must reach the replay through `hyper`
  const feed = (s: ReturnType<typeof io>, i: number) => { s.x.write(batches[i].x); s.t.write(batches[i].t); s.hyper.write([lr(i), 0.9, 1e-4, 1]); };

  const eagerLoss: number[] = [];
  for (let i = 0; i < 12; i++) {
    feed(a, i);
    const loss = eager.step(a.x, a.t, a.hyper);
    eagerLoss.push((await loss.read())[0]);
    loss.dispose();
  }

  feed(b, 0);
  replayed.step(b.x, b.t, b.hyper).dispose(); // first step eager: creates the momenta
  feed(b, 1);
  const { step, result: loss } = capture(() => replayed.step(b.x, b.t, b.hyper));
  const replayLoss = [eagerLoss[0], (await loss.read())[0]];
  for (let i = 2; i < 12; i++) {
    feed(b, i);
    step.run();
    replayLoss.push((await loss.read())[0]);
  }
  assert.equal(replayLoss, eagerLoss);
  for (let p = 0; p < 4; p++) assert.equal(Array.from(await replayed.params[p].read()), Array.from(await eager.params[p].read()), `param ${p}`);
  assert.ok(step.commands > 10);
  step.dispose(); loss.dispose();
  eager.dispose(); replayed.dispose();
  for (const s of [a, b]) { s.x.dispose(); s.t.dispose(); s.hyper.dispose(); }
});

test('profile() runs a captured step command by command, with the same effect as run()', async () => {
  const a = new Mlp(12, 11), b = new Mlp(12, 11), sa = io(), sb = io();
  const batch = xorBatch(new Rng(21), N);
  for (const s of [sa, sb]) { s.x.write(batch.x); s.t.write(batch.t); }
  a.step(sa.x, sa.t, sa.hyper).dispose(); b.step(sb.x, sb.t, sb.hyper).dispose();
  const ca = capture(() => a.step(sa.x, sa.t, sa.hyper)), cb = capture(() => b.step(sb.x, sb.t, sb.hyper));
  ca.step.run();
  const rows = await cb.step.profile();
  assert.is(rows.length, cb.step.commands);
  assert.ok(rows.every((r) => r.ms >= 0 && r.kernel.length > 0), 'every command has a label and a time');
  // device time where the adapter has timestamp queries, so a profile means the same on a GPU
  assert.ok(rows.every((r) => r.clock === (deviceInfo().timestampQuery ? 'device' : 'host')), 'clock follows timestamp-query');
  if (deviceInfo().timestampQuery) assert.ok(rows.some((r) => r.ms > 0), 'timestamps measured something');
  assert.ok(rows.some((r) => r.kernel.startsWith('matmul')), `kernel keys: ${[...new Set(rows.map((r) => r.kernel))].join(', ')}`);
  assert.equal(Array.from(await ca.result.read()), Array.from(await cb.result.read()), 'loss');
  for (let p = 0; p < 4; p++) assert.equal(Array.from(await b.params[p].read()), Array.from(await a.params[p].read()), `param ${p}`);
  const total = await cb.step.deviceMs();
  assert.ok(deviceInfo().timestampQuery ? total! > 0 : total === null, `deviceMs ${total}`);
  for (const c of [ca, cb]) { c.step.dispose(); c.result.dispose(); }
  a.dispose(); b.dispose();
  for (const s of [sa, sb]) { s.x.dispose(); s.t.dispose(); s.hyper.dispose(); }
});

test('replay reuses no buffer that eager code allocates afterwards', async () => {
  const mlp = new Mlp(8, 7), { x, t, hyper } = io();
  const batch = xorBatch(new Rng(9), N);
  x.write(batch.x); t.write(batch.t);
  mlp.step(x, t, hyper).dispose();
  const { step, result: loss } = capture(() => mlp.step(x, t, hyper));
  // tensors made now must not share buffers with the captured step's temporaries
  const others = Array.from({ length: 20 }, (_, i) => Tensor.full([N, 8], i));
  step.run();
  for (const [i, o] of others.entries()) assert.ok((await o.read()).every((v) => v === i), `tensor ${i} intact`);
  others.forEach((o) => o.dispose());
  step.dispose(); loss.dispose(); mlp.dispose(); x.dispose(); t.dispose(); hyper.dispose();
});

test.run();
