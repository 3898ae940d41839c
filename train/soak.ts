// A soak: many replayed training steps of one model, sampling device memory (the buffer pool's bytes)
// and the process's resident set, so a leak per step shows as growth after the warm-up. Used by
// `npm run bench:soak` and by its short test.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { poolStats, type DType } from '../engine/index.ts';
import { timeSteps, type TimedCase } from './step_timing.ts';

export interface SoakSample {
  step: number; poolBytes: number; liveBytes: number; rssBytes: number;
  /** JavaScript's share: ArrayBuffer backing stores (typed arrays, Node buffers) and the V8 heap in use. */
  arrayBytes: number; heapBytes: number;
  ms: number;
}

/** Runs `steps` replayed steps of `c`, sampling every `every` steps (and the last); `afterStep` runs after each. */
export async function soak(c: TimedCase, steps: number, every: number, afterStep?: (step: number) => void): Promise<SoakSample[]> {
  const samples: SoakSample[] = [];
  // a full collection before each sample of the JavaScript bytes: they are then what is still referenced,
  // not garbage of earlier work in the process that a collection mid-run would read as memory given back
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let last = performance.now();
  await timeSteps(c, {
    iters: steps, warmup: 3,
    onStep: (i) => {
      afterStep?.(i + 1);
      if ((i + 1) % every !== 0 && i !== steps - 1) return;
      const ms = (performance.now() - last) / every;
      const p = poolStats(), rss = process.memoryUsage.rss();
      gc(); // after the RSS read: the resident set is judged as the process runs, JavaScript's bytes as referenced
      const m = process.memoryUsage();
      samples.push({ step: i + 1, poolBytes: p.totalBytes, liveBytes: p.liveBytes, rssBytes: rss, arrayBytes: m.arrayBuffers, heapBytes: m.heapUsed, ms });
      last = performance.now(); // the collection's time is not a step's
    },
  });
  return samples;
}

export interface SoakGrowth {
  /** Pool bytes from the first sample after the warm-up to the last: any leaked buffer shows exactly. */
  poolBytes: number;
  /** RSS from the first sample after the warm-up to the last. */
  rssBytes: number;
  /**
   * Growth per step after the warm-up, as the smaller of two estimates that memory kept every step
   * raises alike: the median over sampling intervals of each interval's growth (a one-off jump, such as
   * an allocator arena or a JIT cache, lands in one interval and leaves the median) and the rise of the
   * floor, the lowest sample of the second half against the lowest of the first (a driver that takes
   * and returns hundreds of MiB per step, as SwiftShader does, swings every interval but not its floor).
   * RSS shows native memory only once the allocator's free chunks are used up (tens of MiB after shader
   * compiles), so a short soak sees only large native leaks; ArrayBuffer bytes show typed arrays kept
   * per step exactly, at once.
   */
  rssBytesPerStep: number;
  arrayBytesPerStep: number;
}

/** Growth after `warm` steps (see SoakGrowth). */
export function growth(samples: readonly SoakSample[], warm: number): SoakGrowth {
  const after = samples.filter((s) => s.step >= warm);
  if (after.length < 2) throw new Error(`soak growth: fewer than two samples at or after step ${warm}; sample more often or run more steps`);
  const from = after[0]!, to = after.at(-1)!;
  const medianRate = (bytes: (s: SoakSample) => number) => {
    const rates = after.slice(1).map((s, i) => (bytes(s) - bytes(after[i]!)) / (s.step - after[i]!.step)).sort((a, b) => a - b);
    const mid = rates.length >> 1;
    return rates.length % 2 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
  };
  const floorRate = (bytes: (s: SoakSample) => number) => {
    const half = Math.ceil(after.length / 2), low = (xs: SoakSample[]) => Math.min(...xs.map(bytes));
    return (low(after.slice(half)) - low(after.slice(0, half))) / ((to.step - from.step) / 2);
  };
  const rate = (bytes: (s: SoakSample) => number) => Math.min(medianRate(bytes), floorRate(bytes));
  return {
    poolBytes: to.poolBytes - from.poolBytes, rssBytes: to.rssBytes - from.rssBytes,
    rssBytesPerStep: rate((s) => s.rssBytes), arrayBytesPerStep: rate((s) => s.arrayBytes),
  };
}

/** The soak's model: the `fast` preset's network at batch 16 (small enough for a CPU adapter). */
export const soakCase = (dtype: DType = 'f32'): TimedCase => ({ size: '0.5x', group: 3, imageSize: 32, batch: 16, stem: 'cifar', train: true, dtype });
