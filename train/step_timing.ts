// Whole training (or inference) steps on synthetic CIFAR-shaped data, timed: the trainer's own step
// (train/step.ts) from host pixels to updated weights, replayed from a capture as the trainer does it.
// Used by `npm run bench:train` and by the trainer's up-front estimate for a batch the adapter cannot
// hold. Each timed step is wall time until the queue is idle (host work, upload, GPU work).
import { Rng, Tensor, capture, noGrad, scope, sync, type CapturedStep, type DType } from '../engine/index.ts';
import { augmentBatch, byteTensor, writeBytes, PARAMS } from '../kernels/augment.ts';
import { ShuffleNetV1 } from '../model/shufflenet.ts';
import { foldBatchNorm } from '../model/fold_bn.ts';
import { trainStep, type StepShape, type StepTensors } from './step.ts';
import { STATS } from '../kernels/step_metrics.ts';
import { decodeStats } from './step_metrics.ts';
import { Sgd } from './sgd.ts';
import { trainGeometry, trainTransforms, testParams } from './data/transforms.ts';
import { CIFAR10_MEAN, CIFAR10_STD } from './data/cifar10.ts';
import type { ModelSize, Group, Stem } from '../model/architecture.ts';

export interface TimedCase {
  size: ModelSize; group: Group; imageSize: number; batch: number; stem: Stem; train: boolean; dtype: DType;
  /** Forward only: with batch norm folded into the convolutions (what `npm run eval` runs). */
  fold?: boolean;
}

export interface TimingOptions {
  /** Timed steps. */
  iters: number;
  /** Untimed steps first (at least 2: eager, then capture; replays after). */
  warmup: number;
  /** Called with the captured step after timing (e.g. to profile it). */
  inspect?: (step: CapturedStep) => Promise<void>;
  /** Called after each timed step, with its index (e.g. to sample memory during a soak). */
  onStep?: (i: number) => void;
}

/** Milliseconds per timed step. Throws if the warm-up steps gave a non-finite loss (or logits). */
export async function timeSteps(c: TimedCase, o: TimingOptions): Promise<number[]> {
  const N = c.batch, size = 3 * 32 * 32;
  const rng = new Rng(7);
  // random pixels and labels, fresh crops every step as in training
  const images = Uint8Array.from({ length: N * size }, () => rng.int(256));
  const labels = Float32Array.from({ length: N }, () => rng.int(10));
  const model = new ShuffleNetV1({ size: c.size, group: c.group, classes: 10, imageSize: c.imageSize, stem: c.stem, seed: 1 });
  const opt = new Sgd(model.parameters(), { lossScale: 1024, dynamic: false });
  const t: StepTensors = { src: byteTensor(N * size), params: Tensor.empty([N, PARAMS]), labels: Tensor.from(labels, [N]), scale: opt.scale, stats: Tensor.zeros([STATS]) };
  const shape: StepShape = { dims: { N, C: 3, H: 32, W: 32 }, imageSize: c.imageSize, dtype: c.dtype, mean: CIFAR10_MEAN, std: CIFAR10_STD, smoothing: 0.1 };
  const geometry = trainGeometry({ height: 32, width: 32 }, c.imageSize, true);
  let logits: Tensor | null = null;
  if (!c.train) model.eval();
  const net = !c.train && c.fold ? await foldBatchNorm(model) : model;
  const stepFn = c.train
    ? () => trainStep(model, opt, t, shape)
    : () => { logits?.dispose(); logits = noGrad(() => scope(() => net.forward(augmentBatch(t.src, shape.dims, t.params, { size: c.imageSize, dtype: c.dtype }, CIFAR10_MEAN, CIFAR10_STD)))); };
  let captured: CapturedStep | null = null;
  const one = () => {
    writeBytes(t.src, images);
    t.params.write(c.train ? trainTransforms(rng, N, geometry) : testParams(N, { height: 32, width: 32 }, c.imageSize));
    opt.setHyper(0.01, 0.9, 4e-5);
    if (captured) captured.run();
    else if (!c.train || opt.stepped) captured = capture(stepFn).step;
    else stepFn();
  };
  try {
    for (let i = 0; i < o.warmup; i++) { one(); await sync(); }
    if (c.train) {
      const m = decodeStats(await t.stats.read());
      if (!(Number.isFinite(m.loss) && m.nonFiniteSteps === 0 && m.steps === o.warmup)) throw new Error(`warm-up steps gave loss ${m.loss} (${m.nonFiniteSteps} non-finite of ${m.steps})`);
    } else {
      const z = await (logits as Tensor | null)!.read();
      if (!z.every(Number.isFinite)) throw new Error('warm-up steps gave non-finite logits');
    }
    const ms: number[] = [];
    for (let i = 0; i < o.iters; i++) {
      const t0 = performance.now();
      one();
      await sync();
      ms.push(performance.now() - t0);
      o.onStep?.(i);
    }
    if (o.inspect && captured) await o.inspect(captured);
    return ms;
  } finally {
    (captured as CapturedStep | null)?.dispose();
    (logits as Tensor | null)?.dispose();
    for (const x of [t.src, t.params, t.labels, t.stats]) x.dispose();
    opt.dispose();
    if (net !== model) net.dispose();
    model.dispose();
  }
}
