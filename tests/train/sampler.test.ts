// BatchSampler: seeded per-epoch order, coverage, drop-last, exact resume; copyBatch gathers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BatchSampler, copyBatch, computeChannelStats, type ImageDataset } from '../../train/data/dataset.ts';

/** All batches of one epoch, copied (next() returns views into the sampler's order). */
function epoch(s: BatchSampler): number[][] {
  const out: number[][] = [];
  for (const b of s.epochBatches()) out.push([...b]);
  return out;
}

test('same seed -> same order; different seed or epoch -> different order', () => {
  const a = new BatchSampler({ count: 100, batchSize: 10, seed: 7 });
  const b = new BatchSampler({ count: 100, batchSize: 10, seed: 7 });
  const c = new BatchSampler({ count: 100, batchSize: 10, seed: 8 });
  const a0 = epoch(a), b0 = epoch(b), c0 = epoch(c);
  assert.equal(a0, b0);
  assert.not.equal(a0, c0);
  const a1 = epoch(a);
  assert.is(a.epoch, 2);
  assert.not.equal(a0, a1);
  assert.equal(a1, epoch(b));
  // the order is a pure function of (seed, epoch)
  assert.equal([...a.epochOrder(1)], a1.flat());
  assert.not.equal(a0.flat(), [...Array(100).keys()], 'epoch 0 should be shuffled');
});

test('every index exactly once per epoch (no drop); shuffle=false is in order', () => {
  const s = new BatchSampler({ count: 53, batchSize: 8, seed: 1, dropLast: false });
  assert.is(s.batchesPerEpoch, 7);
  for (let e = 0; e < 3; e++) {
    const batches = epoch(s);
    assert.is(batches.length, 7);
    assert.is(batches[6].length, 53 - 6 * 8);
    assert.equal(batches.flat().sort((x, y) => x - y), [...Array(53).keys()]);
  }
  const seq = new BatchSampler({ count: 10, batchSize: 4, seed: 1, shuffle: false, dropLast: false });
  assert.equal(epoch(seq), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
});

test('drop-last: only full batches, distinct indices', () => {
  const s = new BatchSampler({ count: 53, batchSize: 8, seed: 3 });
  assert.is(s.batchesPerEpoch, 6);
  const batches = epoch(s);
  assert.is(batches.length, 6);
  assert.ok(batches.every(b => b.length === 8));
  assert.is(new Set(batches.flat()).size, 48);
  assert.equal(epoch(new BatchSampler({ count: 5, batchSize: 8, seed: 3 })), []);
});

test('resume mid-epoch gives the same subsequent batches', () => {
  const ref = new BatchSampler({ count: 40, batchSize: 6, seed: 99 });
  const all: number[][] = [];
  for (let e = 0; e < 3; e++) all.push(...epoch(ref));
  const perEpoch = ref.batchesPerEpoch; // 6

  const run = new BatchSampler({ count: 40, batchSize: 6, seed: 99 });
  epoch(run);
  for (let i = 0; i < 2; i++) run.next();
  const saved = JSON.parse(JSON.stringify(run.state())); // round-trips through a checkpoint file
  assert.equal(saved, { seed: 99, count: 40, batchSize: 6, epoch: 1, batch: 2 });

  const resumed = new BatchSampler({ count: 40, batchSize: 6, seed: 99 });
  resumed.restore(saved);
  const rest: number[][] = [...epoch(resumed), ...epoch(resumed)];
  assert.equal(rest, all.slice(perEpoch + 2));

  // restoring in a sampler that has already moved on rewinds it too
  run.next(); run.next();
  run.restore(saved);
  assert.equal([...run.next()!], all[perEpoch + 2]);

  assert.throws(() => resumed.restore({ ...saved, seed: 100 }), /seed=100/);
  assert.throws(() => resumed.restore({ ...saved, batch: 7 }), /bad position/);
});

test('copyBatch gathers samples into preallocated buffers', () => {
  const ds: ImageDataset = {
    name: 't', count: 5, channels: 2, height: 1, width: 2, classes: [], mean: [0, 0], std: [1, 1],
    images: Uint8Array.from({ length: 20 }, (_, i) => i), labels: Uint8Array.from([9, 8, 7, 6, 5]),
  };
  const img = new Uint8Array(3 * 4).fill(255), lbl = new Uint8Array(3).fill(255);
  assert.is(copyBatch(ds, [4, 0], img, lbl), 2);
  assert.equal([...img], [16, 17, 18, 19, 0, 1, 2, 3, 255, 255, 255, 255]);
  assert.equal([...lbl], [5, 9, 255]);
  assert.throws(() => copyBatch(ds, [5], img, lbl), /out of range/);
  assert.throws(() => copyBatch(ds, [0, 1, 2, 3], img, lbl), /image buffer/);

  const st = computeChannelStats(ds);
  // channel 0 holds 0,1,4,5,...; channel 1 holds 2,3,6,7,...
  assert.ok(Math.abs(st.mean[0] * 255 - 8.5) < 1e-9 && Math.abs(st.mean[1] * 255 - 10.5) < 1e-9);
});

test.run();
