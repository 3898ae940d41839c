// What the demo page does with the engine, with no DOM: classify images, train for a few steps on the
// bundled Fashion-MNIST batch, and say what an adapter lacks. Platform-neutral (only the package's
// browser entry), so tests/web runs these same functions under Node to get the logits the page must match.
import {
  Sgd, ShuffleNetV1, Tensor, augmentBatch, backward, noGrad, scope, softmaxCrossEntropy, testParams,
  uploadBytes, WG, type DeviceInfo, type ModelConfig,
} from '../../index.web.ts';

/** Classes and normalisation of a dataset the demo knows (copies of train/data's constants, which read files). */
export interface DatasetInfo { name: string; classes: readonly string[]; mean: number[]; std: number[]; gray: boolean }

export const FASHION_MNIST: DatasetInfo = {
  name: 'fashion-mnist', gray: true, mean: [0.2860, 0.2860, 0.2860], std: [0.3530, 0.3530, 0.3530],
  classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
};
export const CIFAR10: DatasetInfo = {
  name: 'cifar10', gray: false, mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010],
  classes: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
};

/** The model the page starts with: the `fast` preset's 0.5x g=3 at 32x32 (cifar stem), seeded. */
export const TINY_MODEL: ModelConfig = { size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar' };

/** Side of a Fashion-MNIST image. */
export const SIDE = 28;

/**
 * The bundled batch (scripts/web/fashion_mnist_64.bin, made by scripts/web/make_batch.ts): N label
 * bytes, then N 28x28 grayscale images, row-major, 0 = black background.
 */
export interface Batch { count: number; labels: Uint8Array; images: Uint8Array }

export function parseBatch(bytes: Uint8Array, source = 'batch'): Batch {
  const per = 1 + SIDE * SIDE;
  const count = bytes.length / per;
  if (!Number.isInteger(count) || count === 0) {
    throw new Error(`${source}: ${bytes.length} bytes is not N labels followed by N ${SIDE}x${SIDE} images (a multiple of ${per}); rebuild it with scripts/web/make_batch.ts`);
  }
  const labels = bytes.subarray(0, count);
  const bad = labels.findIndex((l) => l >= FASHION_MNIST.classes.length);
  if (bad >= 0) throw new Error(`${source}: label ${bad} is ${labels[bad]}, expected 0..9: not a Fashion-MNIST batch`);
  return { count, labels, images: bytes.subarray(count) };
}

/** Images n0..n0+N-1 of the batch as 3-channel uint8 NCHW (grayscale replicated, as training does). */
export function batchImages(b: Batch, n0: number, N: number): Uint8Array {
  const plane = SIDE * SIDE;
  const out = new Uint8Array(N * 3 * plane);
  for (let i = 0; i < N; i++) {
    const img = b.images.subarray(((n0 + i) % b.count) * plane, ((n0 + i) % b.count + 1) * plane);
    for (let c = 0; c < 3; c++) out.set(img, (i * 3 + c) * plane);
  }
  return out;
}

/** What this adapter lacks for the engine's kernels (empty when it has everything). */
export function deviceShortfalls(i: DeviceInfo): string[] {
  const out: string[] = [];
  if (i.limits.maxComputeInvocationsPerWorkgroup < WG) out.push(`${WG} invocations per workgroup (it has ${i.limits.maxComputeInvocationsPerWorkgroup})`);
  if (i.limits.maxStorageBuffersPerShaderStage < 8) out.push(`8 storage buffers per shader stage (it has ${i.limits.maxStorageBuffersPerShaderStage})`);
  return out;
}

/**
 * Normalised f32 model input [N, 3, S, S] from uint8 NCHW 3-channel images, by the CLI's test
 * transform (a 28x28 image gets the 2-pixel border it was trained with; other sizes are resized whole).
 */
export function modelInput(images: Uint8Array, dims: { N: number; H: number; W: number }, size: number, ds: DatasetInfo): Tensor {
  const p = testParams(dims.N, { height: dims.H, width: dims.W }, size);
  const params = Tensor.from(p, [dims.N, p.length / dims.N]);
  return augmentBatch(uploadBytes(images), { N: dims.N, C: 3, H: dims.H, W: dims.W }, params, { size, dtype: 'f32' }, ds.mean, ds.std);
}

/** Logits [N, classes] of uint8 NCHW 3-channel images, model in eval mode (restored after). */
export async function classify(model: ShuffleNetV1, images: Uint8Array, dims: { N: number; H: number; W: number }, ds: DatasetInfo): Promise<Float32Array> {
  const wasTraining = model.training;
  try {
    const logits = noGrad(() => scope(() => model.eval().forward(modelInput(images, dims, model.config.imageSize, ds))));
    try { return await logits.read(); } finally { logits.dispose(); }
  } finally {
    if (wasTraining) model.train();
  }
}

/** Softmax probabilities (float64) and the classes by falling probability. */
export function topK(logits: ArrayLike<number>, k = 5): { index: number; p: number }[] {
  const z = Array.from(logits);
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v, index) => ({ index, p: v / s })).sort((a, b) => b.p - a.p).slice(0, k);
}

export interface TrainOptions { steps: number; batchSize: number; lr: number; onStep?: (step: number, loss: number, ms: number) => void }

/**
 * SGD-momentum steps on the bundled batch, batchSize images at a time in order (wrapping), no
 * augmentation: a few steps on 64 images, so the loss falls visibly. Returns the loss of each step.
 */
export async function trainSteps(model: ShuffleNetV1, opt: Sgd, b: Batch, o: TrainOptions): Promise<number[]> {
  const losses: number[] = [];
  opt.setHyper(o.lr, 0.9, 4e-5);
  model.train();
  for (let s = 0; s < o.steps; s++) {
    const t0 = performance.now();
    const n0 = (s * o.batchSize) % b.count;
    const loss = scope(() => {
      const x = modelInput(batchImages(b, n0, o.batchSize), { N: o.batchSize, H: SIDE, W: SIDE }, model.config.imageSize, FASHION_MNIST);
      const y = Tensor.from(Array.from({ length: o.batchSize }, (_, i) => b.labels[(n0 + i) % b.count]!), [o.batchSize]);
      const l = softmaxCrossEntropy(model.forward(x), y, { smoothing: 0.1 });
      backward(l);
      return l;
    });
    opt.step();
    opt.zeroGrad();
    try { losses.push((await loss.read())[0]!); } finally { loss.dispose(); }
    o.onStep?.(s, losses.at(-1)!, performance.now() - t0);
  }
  return losses;
}
