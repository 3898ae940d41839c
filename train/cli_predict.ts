// `npm run predict -- --checkpoint FILE [--out FILE.png] [IMAGE.png ...]`
// Without images: the seed's figure, the first 16 test images (upscaled) each under its predicted
// class name, blue where right and red where wrong. With images: each file's top-5 classes with
// probabilities (softmax of the logits), and the grid of those images when they share one size.
// Non-finite logits (weights loaded with --allow-nonfinite, or overflowing) are no prediction: exit 1.
import { describeDevice, initDevice } from '../engine/index.ts';
import { FlagError, programFlags, runMain } from './flags.ts';
import { INFERENCE_FLAGS, countNonFinite, loadForInference, nonFiniteResult } from './inference.ts';
import { loadDataset } from './data_source.ts';
import { predictLogits } from './evaluate.ts';
import { resolvePrecision } from './adapter.ts';
import { predictionGrid } from './pictures/prediction_grid.ts';
import { readImageFile } from './pictures/image_file.ts';
import { CIFAR10_MEAN, CIFAR10_STD } from './data/cifar10.ts';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from './data/fashion_mnist.ts';

const FLAGS = {
  ...INFERENCE_FLAGS,
  out: { type: 'string', default: 'prediction.png', metavar: 'FILE', help: 'the PNG to write' },
  count: { type: 'int', min: 1, max: 64, default: 16, help: 'test images in the figure' },
  offset: { type: 'int', min: 0, default: 0, help: 'index of the first test image shown' },
} as const;

const USAGE = 'Usage: npm run predict -- --checkpoint FILE [--out FILE.png] [IMAGE.png ...]\n\n' +
  'Without images: a PNG of test images labelled with their predicted classes (blue right, red wrong).\n' +
  'With PNG images: prints the top-5 classes of each with probabilities.';

/** Softmax probabilities of one row of logits, computed in float64. */
function softmax(z: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(z));
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function argmax(z: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < z.length; i++) if (z[i]! > z[best]!) best = i;
  return best;
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run predict', USAGE, FLAGS, argv, {
    positional: true,
    validate: (q) => { if (!q.values.checkpoint) throw new FlagError('--checkpoint: missing (the checkpoint to predict with)'); },
  });
  if (typeof p === 'number') return p;
  const v = p.values;
  // decode the files first: a bad file should fail before the GPU and the model are set up
  const files = p.positional.map((f) => ({ file: f, img: readImageFile(f) }));
  await initDevice();
  console.log(`adapter: ${describeDevice()}`);
  const s = await loadForInference(v, p.explicit);
  const dtype = resolvePrecision(s.precision);
  try {
    if (files.length) {
      const gray = s.dataset === 'fashion-mnist';
      const mean = gray ? [0, 0, 0].map(() => FASHION_MNIST_MEAN[0]!) : CIFAR10_MEAN;
      const std = gray ? [0, 0, 0].map(() => FASHION_MNIST_STD[0]!) : CIFAR10_STD;
      const preds: number[] = [];
      let bad = 0;
      for (const { file, img } of files) {
        // a grayscale model saw one channel replicated three times: give it the luminance likewise
        const data = gray ? luminance3(img.data, img.h * img.w) : img.data;
        const logits = predictLogits(s.model, data, { N: 1, C: 3, H: img.h, W: img.w }, { mean, std }, s.imageSize, dtype);
        const z = await logits.read();
        logits.dispose();
        console.log(`${file} (${img.w}x${img.h}):`);
        preds.push(argmax(z));
        const n = countNonFinite(z);
        if (n) { bad++; console.log(`  no prediction: ${n} of ${z.length} logits are not finite`); continue; }
        const prob = softmax(z);
        const top = prob.map((q, k) => [q, k] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
        for (const [q, k] of top) console.log(`  ${s.classes[k]!.padEnd(12)} ${(100 * q).toFixed(2).padStart(6)}%`);
      }
      if (bad) { console.error(nonFiniteResult(`the logits of ${bad} of ${files.length} image(s)`)); return 1; }
      const same = files.every((f) => f.img.h === files[0]!.img.h && f.img.w === files[0]!.img.w);
      if (same && p.explicit.has('out')) {
        const { h, w } = files[0]!.img;
        const all = new Uint8Array(files.length * 3 * h * w);
        files.forEach((f, i) => all.set(f.img.data, i * 3 * h * w));
        predictionGrid(all, { n: files.length, c: 3, h, w }, preds, null, s.classes, v.out!, { title: null });
        console.log(`wrote ${v.out}`);
      }
      return 0;
    }
    const test = await loadDataset(s.dataset, 'test', { dataDir: s.dataDir, downloadUrl: s.downloadUrl });
    const n = Math.min(v.count, test.count - v.offset);
    if (n <= 0) throw new FlagError(`--offset: ${v.offset} is past the ${test.count} test images`);
    const size = test.channels * test.height * test.width;
    const images = test.images.slice(v.offset * size, (v.offset + n) * size);
    const actual = Array.from(test.labels.subarray(v.offset, v.offset + n));
    const logits = predictLogits(s.model, images, { N: n, C: test.channels, H: test.height, W: test.width }, test, s.imageSize, dtype);
    const z = await logits.read();
    logits.dispose();
    const K = s.classes.length;
    const bad = Array.from({ length: n }, (_, i) => countNonFinite(z.subarray(i * K, (i + 1) * K))).filter((c) => c > 0).length;
    if (bad) { console.error(`${nonFiniteResult(`the logits of ${bad} of ${n} test image(s)`)}; ${v.out} not written`); return 1; }
    const predicted = Array.from({ length: n }, (_, i) => argmax(z.subarray(i * K, (i + 1) * K)));
    const right = predicted.filter((q, i) => q === actual[i]).length;
    predictionGrid(images, { n, c: test.channels, h: test.height, w: test.width }, predicted, actual, s.classes, v.out!);
    console.log(`${right}/${n} right; wrote ${v.out} (blue: right, red: wrong)`);
    return 0;
  } finally {
    s.model.dispose();
  }
}

/** Planar RGB -> the luminance (ITU-R 601) in all three planes. */
function luminance3(rgb: Uint8Array, plane: number): Uint8Array {
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    const y = Math.round(0.299 * rgb[i]! + 0.587 * rgb[plane + i]! + 0.114 * rgb[2 * plane + i]!);
    out[i] = out[plane + i] = out[2 * plane + i] = y;
  }
  return out;
}

await runMain(main);
