// A soak: many replayed training steps of one model, sampling device memory (the buffer pool's bytes)
// and the process's resident set, so a leak per step shows as growth after the warm-up. Used by
// `npm run bench:soak` and by its short test.
import { poolStats, type DType } from '../engine/index.ts';
import { timeSteps, type TimedCase } from './step_timing.ts';

export interface SoakSample { step: number; poolBytes: number; liveBytes: number; rssBytes: number; ms: number }

/** Runs `steps` replayed steps of `c`, sampling every `every` steps (and the last). */
export async function soak(c: TimedCase, steps: number, every: number): Promise<SoakSample[]> {
  const samples: SoakSample[] = [];
  let last = performance.now();
  await timeSteps(c, {
    iters: steps, warmup: 3,
    onStep: (i) => {
      if ((i + 1) % every !== 0 && i !== steps - 1) return;
      const now = performance.now(), p = poolStats();
      samples.push({ step: i + 1, poolBytes: p.totalBytes, liveBytes: p.liveBytes, rssBytes: process.memoryUsage().rss, ms: (now - last) / every });
      last = now;
    },
  });
  return samples;
}

/** Growth from the first sample after `warm` steps to the last: pool bytes and RSS. */
export function growth(samples: readonly SoakSample[], warm: number): { poolBytes: number; rssBytes: number } {
  const from = samples.find((s) => s.step >= warm) ?? samples[0]!, to = samples.at(-1)!;
  return { poolBytes: to.poolBytes - from.poolBytes, rssBytes: to.rssBytes - from.rssBytes };
}

/** The soak's model: the `fast` preset's network at batch 16 (small enough for a CPU adapter). */
export const soakCase = (dtype: DType = 'f32'): TimedCase => ({ size: '0.5x', group: 3, imageSize: 32, batch: 16, stem: 'cifar', train: true, dtype });
