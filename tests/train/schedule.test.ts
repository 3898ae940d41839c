// The learning-rate schedule against the seed's formula (MindSpore cosine_decay_lr + warmup_lr).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lrAt, lrTable, mindsporeCosineDecayLr, mindsporeWarmupLr, type Schedule } from '../../train/schedule.ts';

// the seed's numbers with a short epoch so the table stays small
const seed: Schedule = { baseLr: 0.05, minLr: 0.0005, warmupEpochs: 4, epochs: 250, stepsPerEpoch: 7 };
const close = (a: number, b: number, what: string, tol = 1e-15) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('warm-up: linear from base/Ws to base over 4 epochs', () => {
  const Ws = 4 * 7;
  close(lrAt(0, seed), 0.05 / Ws, 'first step');
  close(lrAt(Ws - 1, seed), 0.05, 'last warm-up step');
  for (let i = 1; i < Ws; i++) close(lrAt(i, seed) - lrAt(i - 1, seed), 0.05 / Ws, `slope at ${i}`, 1e-16);
});

test('cosine part: closed form per step, from base to min', () => {
  const Ws = 28, S = 7, D = 246;
  for (const i of [28, 29, 35, 100, 777, 1000, 1749]) {
    const e = (i - Ws) / S;
    close(lrAt(i, seed), 0.0005 + 0.5 * (0.05 - 0.0005) * (1 + Math.cos((Math.PI * e) / D)), `step ${i}`);
  }
  close(lrAt(Ws, seed), 0.05, 'start of cosine');
  const t = lrTable(seed);
  assert.is(t.length, 250 * 7);
  for (let i = Ws + 1; i < t.length; i++) assert.ok(t[i] < t[i - 1], `strictly decreasing at ${i}`);
  assert.ok(t[t.length - 1] > 0.0005 && t[t.length - 1] < 0.00051, `last ${t[t.length - 1]}`);
  close(lrAt(250 * 7 + 50, seed), 0.0005, 'past the end stays at the floor');
});

test('continuous curve meets MindSpore cosine_decay_lr at every epoch boundary', () => {
  const S = 7, W = 4, E = 250;
  const ms = mindsporeCosineDecayLr(0.0005, 0.05, (E - W) * S, S, E - W);
  for (let k = 0; k < E - W; k++) close(lrAt(W * S + k * S, seed), ms[k * S], `epoch ${k}`);
  // within an epoch MindSpore is constant while ours moves on: they differ, but never by more than one epoch's step
  const mid = lrAt(W * S + 100 * S + 3, seed);
  assert.ok(mid < ms[100 * S + 3] && mid > ms[101 * S], 'between the staircase steps');
});

test("granularity 'epoch' is exactly MindSpore's warmup_lr followed by cosine_decay_lr", () => {
  const s: Schedule = { ...seed, granularity: 'epoch' };
  const S = 7, W = 4, E = 250;
  const want = [...mindsporeWarmupLr(0.05, W * S, S, W), ...mindsporeCosineDecayLr(0.0005, 0.05, (E - W) * S, S, E - W)];
  const got = lrTable(s);
  assert.is(got.length, want.length);
  for (let i = 0; i < want.length; i++) close(got[i], want[i], `step ${i}`);
});

test('MindSpore ports: known values', () => {
  // cosine_decay_lr(0.01, 0.1, 6, 2, 2) from MindSpore's docstring: [0.1, 0.1, 0.05500000000000001, 0.05500000000000001, 0.01, 0.01]
  const got = mindsporeCosineDecayLr(0.01, 0.1, 6, 2, 2);
  [0.1, 0.1, 0.055, 0.055, 0.01, 0.01].forEach((v, i) => close(got[i], v, `cos ${i}`, 1e-12));
  // warmup_lr(0.1, 6, 2, 2) from its docstring: [0.05, 0.05, 0.1, 0.1, 0.1, 0.1]
  const w = mindsporeWarmupLr(0.1, 6, 2, 2);
  [0.05, 0.05, 0.1, 0.1, 0.1, 0.1].forEach((v, i) => close(w[i], v, `warm ${i}`, 1e-12));
});

test('no warm-up and no decay span', () => {
  close(lrAt(0, { ...seed, warmupEpochs: 0 }), 0.05, 'no warm-up starts at base');
  close(lrAt(3, { ...seed, warmupEpochs: 4, epochs: 4 }), 0.05 * 4 / 28, 'all warm-up');
  close(lrAt(30, { ...seed, warmupEpochs: 4, epochs: 4 }), 0.05, 'no decay span: base');
});

test.run();
