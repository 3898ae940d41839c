// Inference helpers: predictLogits runs batch norm on running statistics whatever mode the model is
// in (a model in training mode would normalise with the batch's own statistics, and a single image's
// prediction would depend on the images beside it), and leaves the model's mode as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../util/gpu.ts';
import { Tensor, noGrad, scope } from '../../engine/index.ts';
import { augmentBatch, uploadBytes, PARAMS } from '../../kernels/augment.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { predictLogits } from '../../train/evaluate.ts';
import { testParams } from '../../train/data/transforms.ts';
import { expectClose, TOL } from '../util/check.ts';
import { syntheticDataset } from './synthetic_data.ts';

test('predictLogits uses eval-mode batch norm and restores the model\'s mode', async () => {
  const data = syntheticDataset(6, 3);
  const model = new ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 4 });
  const dims = { N: 6, C: 3, H: 32, W: 32 };
  const forward = () => noGrad(() => scope(() => {
    const params = Tensor.from(testParams(6, { height: 32, width: 32 }, 32), [6, PARAMS]);
    return model.forward(augmentBatch(uploadBytes(data.images), dims, params, { size: 32, dtype: 'f32' }, data.mean, data.std));
  }));
  // (a forward pass in training mode also moves the running statistics: take it first)
  model.train(true);
  const trainLogits = await forward().read();
  model.eval();
  const evalLogits = await forward().read();
  model.train(true);
  assert.ok(evalLogits.some((v, i) => Math.abs(v - trainLogits[i]!) > 1e-3), 'train and eval modes differ on this model');
  const got = predictLogits(model, data.images, dims, data, 32, 'f32');
  expectClose(await got.read(), evalLogits, TOL.f32, 'logits');
  assert.ok(model.training, 'still in training mode');
  // one image alone gets the same logits as in the batch
  const one = predictLogits(model, data.images.subarray(0, 3 * 32 * 32), { ...dims, N: 1 }, data, 32, 'f32');
  expectClose(await one.read(), evalLogits.subarray(0, 10), TOL.f32, 'first image alone');
  got.dispose(); one.dispose(); model.dispose();
});

test.run();
