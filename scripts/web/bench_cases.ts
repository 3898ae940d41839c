// What `npm run bench:web` times (scripts/web/bench.ts drives, scripts/web/bench_app.ts runs it in the
// page). Sized for a CPU adapter (SwiftShader, 2 shared cores): a step of ours takes 0.3-2 s there, one
// of TF.js up to a minute, so the training case times one step per round and the forward pass several.
import type { ModelSize, Group, Stem } from '../../model/architecture.ts';

export interface BenchCase {
  name: string; size: ModelSize; group: Group; image: number; batch: number; stem: Stem; train: boolean;
  /** Timed steps of each engine per round, times --iters. */
  steps: number;
}
export type Engine = 'ours' | 'tfjs';

export const CASES: BenchCase[] = [
  { name: 'train 0.5x g=3 32x32 cifar stem batch 16', size: '0.5x', group: 3, image: 32, batch: 16, stem: 'cifar', train: true, steps: 1 },
  { name: 'forward 1.0x g=3 224x224 batch 1', size: '1.0x', group: 3, image: 224, batch: 1, stem: 'imagenet', train: false, steps: 4 },
];
