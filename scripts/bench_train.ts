// `npm run bench:train [-- --filter S --json FILE --iters N --warmup N]`
// Times whole training steps on synthetic CIFAR-shaped data: host batch -> upload -> GPU augment ->
// forward -> loss -> backward -> SGD update (and a forward-only inference case), exactly the
// trainer's step (train/step.ts) replayed from a capture as the trainer does. Check before timing:
// the warm-up steps must give a finite loss. Reported: median wall time per step (host work,
// upload and GPU work until the queue is idle) and images/s.
import * as fs from 'node:fs';
import { Tensor, capture, describeDevice, initDevice, noGrad, scope, sync, type CapturedStep } from '../engine/index.ts';
import { augmentBatch, byteTensor, writeBytes, PARAMS } from '../kernels/augment.ts';
import { ShuffleNetV1 } from '../model/shufflenet.ts';
import { Rng } from '../engine/index.ts';
import { trainStep, type StepShape, type StepTensors } from '../train/step.ts';
import { STATS, decodeStats } from '../train/step_metrics.ts';
import { Sgd } from '../train/sgd.ts';
import { trainGeometry, trainParams, testParams } from '../train/data_source.ts';
import { CIFAR10_MEAN, CIFAR10_STD } from '../train/data/cifar10.ts';
import { FlagError, formatHelp, parseFlags, runMain } from '../train/flags.ts';
import { resolvePrecision } from '../train/trainer.ts';
import type { ModelSize, Group, Stem } from '../train/config.ts';

interface Case { name: string; size: ModelSize; group: Group; image: number; batch: number; stem: Stem; train: boolean }

const CASES: Case[] = [
  { name: '(a) train 2.0x g=3 224x224 batch 8', size: '2.0x', group: 3, image: 224, batch: 8, stem: 'imagenet', train: true },
  { name: '(b) train 1.0x g=3 32x32 batch 128', size: '1.0x', group: 3, image: 32, batch: 128, stem: 'imagenet', train: true },
  { name: '(c) train 0.5x g=8 224x224 batch 16', size: '0.5x', group: 8, image: 224, batch: 16, stem: 'imagenet', train: true },
  { name: '(d) forward 2.0x g=3 224x224 batch 32', size: '2.0x', group: 3, image: 224, batch: 32, stem: 'imagenet', train: false },
  { name: '(e) train 0.5x g=3 32x32 cifar stem batch 128 (--preset fast)', size: '0.5x', group: 3, image: 32, batch: 128, stem: 'cifar', train: true },
];

const FLAGS = {
  filter: { type: 'string', default: null, metavar: 'TEXT', help: 'only cases whose name contains TEXT (e.g. "(a)" or "224")' },
  json: { type: 'string', default: null, metavar: 'FILE', help: 'also write {adapter, rows: [{config, ms, images_per_s}]} here' },
  iters: { type: 'int', min: 1, default: 5, help: 'timed steps per case (the median is reported)' },
  warmup: { type: 'int', min: 2, default: 3, help: 'untimed steps first (eager, capture, replay)' },
  precision: { type: 'choice', choices: ['auto', 'fp16', 'fp32'], default: 'auto', help: 'activations' },
  profile: { type: 'int', min: 0, default: 0, metavar: 'N', help: 'after timing, run one step a kernel at a time and print the N costliest kernels' },
} as const;

interface Row { config: string; ms: number; images_per_s: number; min_ms: number }

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

/** Per-kernel totals of one step run a command at a time, costliest first. */
async function printProfile(step: CapturedStep, top: number): Promise<void> {
  const rows = await step.profile();
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const by = new Map<string, { ms: number; n: number }>();
  for (const r of rows) {
    const key = `${r.op} ${r.kernel}`;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += r.ms; e.n++;
    by.set(key, e);
  }
  console.log(`  profile: ${rows.length} commands, ${total.toFixed(1)} ms one at a time`);
  for (const [k, e] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(`  ${e.ms.toFixed(1).padStart(9)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  x${String(e.n).padEnd(4)} ${k}`);
  }
}

async function bench(c: Case, iters: number, warmup: number, precision: 'auto' | 'fp16' | 'fp32', profile = 0): Promise<Row> {
  const dtype = resolvePrecision(precision);
  const N = c.batch, size = 3 * 32 * 32;
  const rng = new Rng(7);
  // synthetic CIFAR-shaped batch: random pixels and labels, fresh crops every step as in training
  const images = Uint8Array.from({ length: N * size }, () => rng.int(256));
  const labels = Float32Array.from({ length: N }, () => rng.int(10));
  const model = new ShuffleNetV1({ size: c.size, group: c.group, classes: 10, imageSize: c.image, stem: c.stem, seed: 1 });
  const opt = new Sgd(model.parameters(), { lossScale: 1024, dynamic: false });
  const t: StepTensors = { src: byteTensor(N * size), params: Tensor.empty([N, PARAMS]), labels: Tensor.from(labels, [N]), scale: opt.scale, stats: Tensor.zeros([STATS]) };
  const shape: StepShape = { dims: { N, C: 3, H: 32, W: 32 }, imageSize: c.image, dtype, mean: CIFAR10_MEAN, std: CIFAR10_STD, smoothing: 0.1 };
  const geometry = trainGeometry({ height: 32, width: 32 }, c.image, true);
  let logits: Tensor | null = null;
  const stepFn = c.train
    ? () => trainStep(model, opt, t, shape)
    : () => { logits?.dispose(); logits = noGrad(() => scope(() => model.forward(augmentBatch(t.src, shape.dims, t.params, { size: c.image, dtype }, CIFAR10_MEAN, CIFAR10_STD)))); };
  if (!c.train) model.eval();
  let captured: CapturedStep | null = null;
  const one = () => {
    writeBytes(t.src, images);
    t.params.write(c.train ? trainParams(rng, N, geometry) : testParams(N, { height: 32, width: 32 }, c.image));
    opt.setHyper(0.01, 0.9, 4e-5);
    if (captured) captured.run();
    else if (!c.train) { captured = capture(stepFn).step; }
    else if (opt.stepped) captured = capture(stepFn).step;
    else stepFn();
  };
  try {
    for (let i = 0; i < warmup; i++) { one(); await sync(); }
    if (c.train) {
      const m = decodeStats(await t.stats.read());
      if (!(Number.isFinite(m.loss) && m.nonFiniteSteps === 0 && m.steps === warmup)) throw new Error(`${c.name}: warm-up steps gave loss ${m.loss} (${m.nonFiniteSteps} non-finite of ${m.steps})`);
    } else {
      const z = await logits!.read();
      if (!z.every(Number.isFinite)) throw new Error(`${c.name}: non-finite logits`);
    }
    const ms: number[] = [];
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      one();
      await sync();
      ms.push(performance.now() - t0);
    }
    const m = median(ms);
    if (profile > 0 && captured) await printProfile(captured, profile);
    return { config: c.name, ms: m, images_per_s: (N * 1000) / m, min_ms: Math.min(...ms) };
  } finally {
    (captured as CapturedStep | null)?.dispose();
    (logits as Tensor | null)?.dispose();
    for (const x of [t.src, t.params, t.labels, t.stats]) x.dispose();
    opt.dispose();
    model.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  let p;
  try { p = parseFlags(FLAGS, argv); } catch (e) {
    if (e instanceof FlagError) { console.error(`bench:train: ${e.message}`); return 2; }
    throw e;
  }
  if (p.help) { console.log(formatHelp('Usage: npm run bench:train -- [flags]\n\nTimes whole training steps on synthetic data.', FLAGS)); return 0; }
  const v = p.values;
  await initDevice();
  const adapter = describeDevice();
  console.log(`adapter: ${adapter}`);
  const cases = CASES.filter((c) => !v.filter || c.name.includes(v.filter));
  if (!cases.length) { console.error(`bench:train: --filter '${v.filter}' matches no case`); return 2; }
  const rows: Row[] = [];
  const w = Math.max(...cases.map((c) => c.name.length));
  console.log(`${'config'.padEnd(w)}  ${'ms/step'.padStart(10)}  ${'min ms'.padStart(10)}  ${'images/s'.padStart(9)}`);
  for (const c of cases) {
    const r = await bench(c, v.iters, v.warmup, v.precision as 'auto' | 'fp16' | 'fp32', v.profile);
    rows.push(r);
    console.log(`${r.config.padEnd(w)}  ${r.ms.toFixed(1).padStart(10)}  ${r.min_ms.toFixed(1).padStart(10)}  ${r.images_per_s.toFixed(1).padStart(9)}`);
  }
  if (v.json) {
    fs.writeFileSync(v.json, JSON.stringify({ adapter, precision: resolvePrecision(v.precision as 'auto'), rows: rows.map(({ config, ms, images_per_s }) => ({ config, ms, images_per_s })) }, null, 2) + '\n');
    console.log(`wrote ${v.json}`);
  }
  return 0;
}

await runMain(main, { stack: true });
