// The `npm run bench:web` page (scripts/web/bench.html): the same ShuffleNetV1 step in this engine (the
// package's browser bundle, ./shufflenet-webgpu.js) and in TensorFlow.js 4.22's webgpu backend, in one
// page on one adapter. scripts/web/bench.ts drives it through window.bench: prepare a case (both
// models, warm-up steps), then timed steps of one engine at a time, alternating, then finish.
//
// Ours is the trainer's step (train/step.ts trainStep, timed as train/step_timing.ts timeSteps does)
// written with the public API: uint8 pixels written to the GPU, GPU augmentation (random crop + flip),
// forward, label-smoothed cross-entropy, backward, SGD momentum update, captured once and replayed.
// TF.js: the pixels uploaded, normalised, cropped (one random offset per batch) and flipped on the GPU,
// then optimizer.minimize of the same loss (tf.train.momentum). Each step ends when the GPU is done:
// our sync(), TF.js reading the loss (or logits) back.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import {
  Rng, Sgd, ShuffleNetV1, Tensor, augmentBatch, backward, byteTensor, capture, describeDevice, initDevice, mul,
  noGrad, scope, softmaxCrossEntropy, sync, testParams, trainTransforms, writeBuffer,
  type CapturedStep,
} from '../../index.web.ts';
import { CIFAR10 } from './demo_model.ts';
import { TfShuffleNet } from './bench_tfjs.ts';
import type { BenchCase, Engine } from './bench_cases.ts';

interface Runner { step(): Promise<void>; check(): Promise<void>; params: number; dispose(): void }

const SIDE = 32, PIXELS = 3 * SIDE * SIDE, CLASSES = 10, LR = 0.01, MOMENTUM = 0.9, SMOOTHING = 0.1;

/** Random CIFAR-shaped pixels and labels, the same for both engines (seeded as timeSteps seeds them). */
function syntheticBatch(N: number): { nchw: Uint8Array; labels: Float32Array } {
  const rng = new Rng(7);
  const nchw = Uint8Array.from({ length: N * PIXELS }, () => rng.int(256));
  return { nchw, labels: Float32Array.from({ length: N }, () => rng.int(CLASSES)) };
}

function ours(c: BenchCase): Runner {
  const N = c.batch;
  const { nchw, labels } = syntheticBatch(N);
  const rng = new Rng(8);
  const model = new ShuffleNetV1({ size: c.size, group: c.group, classes: CLASSES, imageSize: c.image, stem: c.stem, seed: 1 });
  const opt = new Sgd(model.parameters(), { lossScale: 1024, dynamic: false });
  const geometry = { H: SIDE, W: SIDE, pad: 4, crop: SIDE, size: c.image, flip: true }; // train/data/transforms.ts trainGeometry
  const transform = () => (c.train ? trainTransforms(rng, N, geometry) : testParams(N, { height: SIDE, width: SIDE }, c.image));
  const src = byteTensor(N * PIXELS), lab = Tensor.from(labels, [N]);
  const params = Tensor.empty([N, transform().length / N]);
  const dims = { N, C: 3, H: SIDE, W: SIDE };
  const input = () => augmentBatch(src, dims, params, { size: c.image, dtype: 'f32' }, CIFAR10.mean, CIFAR10.std);
  let logits: Tensor | null = null;
  if (!c.train) model.eval();
  const stepFn = c.train
    ? () => scope(() => {
      const loss = softmaxCrossEntropy(model.forward(input()), lab, { smoothing: SMOOTHING });
      backward(mul(loss, opt.scale));
      opt.step();
      opt.zeroGrad();
    })
    : () => { logits?.dispose(); logits = noGrad(() => scope(() => model.forward(input()))); };
  let captured: CapturedStep | null = null;
  return {
    params: model.parameters().reduce((a, p) => a + p.tensor.size, 0),
    async step() {
      writeBuffer(src.buffer, 0, nchw);
      params.write(transform());
      opt.setHyper(LR, MOMENTUM, 4e-5);
      if (captured) captured.run();
      else if (!c.train || opt.stepped) captured = capture(stepFn).step;
      else stepFn();
      await sync();
    },
    async check() {
      const v = await (c.train ? model.classifier.weight : logits!).read();
      if (!v.every(Number.isFinite)) throw new Error(`ours, ${c.name}: non-finite ${c.train ? 'weights after training' : 'logits'}`);
    },
    dispose() {
      captured?.dispose();
      logits?.dispose();
      for (const t of [src, lab, params]) t.dispose();
      opt.dispose();
      model.dispose();
    },
  };
}

function tfjs(c: BenchCase): Runner {
  const N = c.batch;
  const { nchw, labels } = syntheticBatch(N);
  const rng = new Rng(8);
  const nhwc = new Int32Array(N * PIXELS);
  for (let n = 0; n < N; n++) for (let ch = 0; ch < 3; ch++) for (let i = 0; i < SIDE * SIDE; i++) nhwc[(n * SIDE * SIDE + i) * 3 + ch] = nchw[(n * 3 + ch) * SIDE * SIDE + i]!;
  const model = new TfShuffleNet({ size: c.size, group: c.group, classes: CLASSES, imageSize: c.image, stem: c.stem });
  const vars = model.trainable();
  const opt = tf.train.momentum(LR, MOMENTUM);
  const oneHot = tf.keep(tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), CLASSES));
  const mean = tf.keep(tf.tensor1d(CIFAR10.mean)), std = tf.keep(tf.tensor1d(CIFAR10.std));
  const input = (): tf.Tensor4D => {
    let x = tf.div(tf.sub(tf.div(tf.cast(tf.tensor4d(nhwc, [N, SIDE, SIDE, 3], 'int32'), 'float32'), 255), mean), std) as tf.Tensor4D;
    if (c.train) {
      x = tf.slice(tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]]), [0, rng.int(9), rng.int(9), 0], [N, SIDE, SIDE, 3]);
      if (rng.int(2)) x = tf.reverse(x, 2);
    }
    return c.image === SIDE ? x : tf.image.resizeBilinear(x, [c.image, c.image]);
  };
  let last = NaN;
  return {
    params: vars.reduce((a, v) => a + v.size, 0),
    async step() {
      const out = tf.tidy(() => (c.train
        ? opt.minimize(() => tf.losses.softmaxCrossEntropy(oneHot, model.forward(input(), true), undefined, SMOOTHING) as tf.Scalar, true, vars)!
        : model.forward(input(), false)));
      last = (await out.data())[0]!;
      out.dispose();
    },
    async check() {
      if (!Number.isFinite(last)) throw new Error(`TF.js, ${c.name}: non-finite ${c.train ? 'loss' : 'logits'} ${last}`);
    },
    dispose() {
      opt.dispose();
      tf.dispose([oneHot, mean, std, ...vars, ...model.units.flatMap((u) => [u.bn1, u.bn2, u.bn3]).flatMap((b) => [b.mean, b.variance]), model.stemBn.mean, model.stemBn.variance]);
    },
  };
}

let runners: Record<Engine, Runner> | null = null;

const bench = {
  /** Open both engines on the page's adapter; returns what each reports about it. */
  async init(): Promise<{ ours: string; tfjs: string; userAgent: string }> {
    if (!navigator.gpu) throw new Error('WebGPU is not available in this browser (navigator.gpu is undefined): Chromium needs --enable-unsafe-webgpu');
    await initDevice();
    if (!(await tf.setBackend('webgpu'))) throw new Error("TensorFlow.js could not start its 'webgpu' backend on this browser's adapter");
    await tf.ready();
    const a = await navigator.gpu.requestAdapter();
    const info = a?.info;
    return { ours: describeDevice(), tfjs: info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : 'no adapter info', userAgent: navigator.userAgent };
  },

  /** Build both models for a case and run `warmup` untimed steps of each; returns the parameter counts. */
  async prepare(c: BenchCase, warmup: number): Promise<{ params: Record<Engine, number>; warmupMs: Record<Engine, number[]> }> {
    bench.finish();
    runners = { ours: ours(c), tfjs: tfjs(c) };
    const warmupMs: Record<Engine, number[]> = { ours: [], tfjs: [] };
    for (const e of ['ours', 'tfjs'] as const) {
      for (let i = 0; i < warmup; i++) {
        const t0 = performance.now();
        await runners[e].step();
        warmupMs[e].push(performance.now() - t0);
      }
      await runners[e].check();
    }
    return { params: { ours: runners.ours.params, tfjs: runners.tfjs.params }, warmupMs };
  },

  /** Compute pipelines TF.js has compiled so far: steady after warm-up, or its steps are timing shader compiles. */
  tfjsPipelines(): number {
    return Object.keys((tf.backend() as unknown as { pipelineCache: object }).pipelineCache).length;
  },

  /** `n` timed steps of one engine: milliseconds each. */
  async run(engine: Engine, n: number): Promise<number[]> {
    if (!runners) throw new Error('bench.run before bench.prepare');
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await runners[engine].step();
      ms.push(performance.now() - t0);
    }
    await runners[engine].check();
    return ms;
  },

  finish(): void {
    if (runners) for (const r of Object.values(runners)) r.dispose();
    runners = null;
  },
};

(window as unknown as { bench: typeof bench }).bench = bench;
document.body.dataset.state = 'ready';
