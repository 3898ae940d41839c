// A training configuration small enough for tests on a CPU adapter: the `fast` preset's model
// (ShuffleNetV1 0.5x g=3, cifar stem, 32x32) with fp32 activations and a short schedule. lr 0.005: on
// 64 images in batches of 16 a higher rate makes this net's loss blow up to ~10-80 for several epochs
// before it recovers, in PyTorch as here (measured with the twin in scripts/torch_twin/, lr 0.02 and 0.1).
import { parseTrainArgs, type TrainConfig } from '../../train/config.ts';

export function tinyConfigFor(outDir: string, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...parseTrainArgs(['--preset', 'fast']).config,
    outDir, precision: 'fp32', batchSize: 16, epochs: 10, warmupEpochs: 1, lr: 0.005, minLr: 0.0005, logEvery: 4, evalEvery: 5,
    ...over,
  };
}
