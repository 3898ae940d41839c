// BN folding: folded vs unfolded eval logits (non-trivial BN statistics, every fold including the
// depthwise bias pushed through the 1x1 conv). The stem's bias kernel: tests/kernels/bias_add.test.ts.
import { test } from 'uvu';
import { Rng, noGrad, type DType } from '../../engine/index.ts';
import { upload, download, quantize } from '../util/gpu.ts';
import { expectClose } from '../util/check.ts';
import { foldBatchNorm } from '../../model/fold_bn.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { randomBn, readCheckpointTensors } from './fixture.ts';

const cases: [string, ConstructorParameters<typeof ShuffleNetV1>[0], DType][] = [
  ['0.5x g=3 imagenet stem', { size: '0.5x', group: 3, classes: 10, imageSize: 32 }, 'f32'],
  ['0.5x g=1 cifar stem', { size: '0.5x', group: 1, classes: 10, imageSize: 32, stem: 'cifar' }, 'f32'],
  ['0.5x g=3 imagenet stem', { size: '0.5x', group: 3, classes: 10, imageSize: 32 }, 'f16'],
];
for (const [name, cfg, dtype] of cases) {
  test(`folded == unfolded eval logits, ${name}, ${dtype}`, async () => {
    const m = new ShuffleNetV1({ ...cfg, seed: 17 });
    randomBn(m, 18);
    const x = upload(quantize(new Rng(19).normals(3 * 3 * 32 * 32), dtype), [3, 3, 32, 32], dtype);
    const want = await download(noGrad(() => m.eval().forward(x)));
    const folded = await foldBatchNorm(m);
    const got = await download(folded.forward(x));
    // f16: both run every activation through halves, with different rounding points (BN vs bias)
    expectClose(got, want, dtype === 'f32' ? 1e-5 : 2e-2, 'folded logits');
    folded.dispose(); x.dispose(); m.dispose();
  });
}

test('folded model reproduces the PyTorch twin\'s eval logits (0.5x g=8 fixture)', async () => {
  const f = await readCheckpointTensors('tests/fixtures/shufflenet_0.5x_g8.safetensors');
  const m = new ShuffleNetV1(f.config);
  m.loadStateDict(f.params);
  const folded = await foldBatchNorm(m);
  const x = upload(f.get('input').data, f.get('input').shape);
  expectClose(await download(folded.forward(x)), f.get('eval.logits').data, 1e-5, 'folded vs torch eval.logits');
  folded.dispose(); x.dispose(); m.dispose();
});

test.run();
