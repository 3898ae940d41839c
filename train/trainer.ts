// `train()`: a whole training run, as the seed's train.py does it, in the order it happens:
//   stop_policy.ts signals (from here on: during start-up they exit at once, later they save first)
//   out_dir.ts     create --out-dir; run_lock.ts: its lock (one run per directory)
//   resume.ts      find the checkpoint to resume and its configuration (--resume); otherwise
//   init_from.ts   the checkpoint a new run starts from and its architecture (--init), and
//   out_dir.ts     refuse another run's outputs unless --overwrite
//   adapter.ts     the activation dtype; the micro-batch (micro_batch.ts: the whole batch, or passes whose
//                  activations fit the adapter's largest buffer); on a CPU adapter the seed preset's cost
//   session.ts     data, sampler, model, optimizer, per-step tensors, output files
//   memory_plan.ts the step's estimated peak device memory, logged beside the adapter's limits
//   resume.ts      restore weights, momenta, loss scale, sampler, RNG and progress from the checkpoint
//   init_from.ts   or (--init) load its weights and any momenta into the new run
//   step_loop.ts   the steps (eager, captured, replayed), metrics read-backs, progress bar, NaN policy
//   epoch_end.ts   evaluation, the seed's epoch line, metrics, plot and a checkpoint per epoch
//   stop_policy.ts stop signals and the NaN policy
// Outputs in --out-dir: checkpoints (the seed's names, newest 5 kept, and periodic ones inside an
// epoch, --checkpoint-every), metrics.jsonl, training.png, and train.lock while the run lasts.
import { loadDataset } from './data_source.ts';
import { chooseMicroBatchHere, limitsHere, resolvePrecision } from './adapter.ts';
import { memoryLine, sessionPlan } from './memory_plan.ts';
import { findResume, restoreSession } from './resume.ts';
import { applyInit, readInit } from './init_from.ts';
import { Session } from './session.ts';
import { runSteps, type StopReason } from './step_loop.ts';
import { StopSignal, type StopSignalName } from './stop_policy.ts';
import { claimOutDir, prepareOutDir } from './out_dir.ts';
import { RunLock } from './run_lock.ts';
import type { ImageDataset } from './data/dataset.ts';
import type { EpochRecord } from './pictures/plot.ts';
import type { TrainConfig } from './config.ts';

export interface TrainHooks {
  /** Where lines go (default console.log). */
  log?: (line: string) => void;
  /** Draw progress bars (default: true). */
  progress?: boolean;
  /** Use these datasets instead of loading cfg.dataset (tests). test may be null: no evaluation. */
  datasets?: { train: ImageDataset; test: ImageDataset | null };
  /** Polled after every step; true stops like a signal does (finish the step, save, return). */
  shouldStop?: () => boolean;
  /** Flags given explicitly on the command line: on resume they override the checkpoint's config. */
  explicit?: Set<string>;
}

export interface TrainResult {
  reason: StopReason;
  /** Steps done in total (including those before a resume). */
  steps: number;
  history: EpochRecord[];
  /** The last checkpoint written (or resumed from), if any. */
  checkpoint: string | null;
  /** The configuration actually used (after presets and resume). */
  config: TrainConfig;
  message?: string;
  /** The signal that interrupted the run (reason 'interrupted'; absent when the shouldStop hook did). */
  signal?: StopSignalName;
}

export async function train(cfgIn: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? ((s: string) => console.log(s));
  const stop = new StopSignal(log, hooks.shouldStop);
  try {
    prepareOutDir(cfgIn.outDir);
    const lock = RunLock.acquire(cfgIn.outDir, log);
    try {
      const resume = await findResume(cfgIn, hooks.explicit ?? new Set());
      const init = resume ? null : await readInit(cfgIn, hooks.explicit ?? new Set());
      const cfg = resume?.config ?? init?.config ?? cfgIn;
      if (!resume) claimOutDir(cfg, log);
      const dtype = resolvePrecision(cfg.precision);
      const micro = await chooseMicroBatchHere(cfg, dtype, log);
      const data = hooks.datasets ?? {
        train: await loadDataset(cfg.dataset, 'train', { dataDir: cfg.dataDir, downloadUrl: cfg.downloadUrl }),
        test: cfg.evalEvery > 0 ? await loadDataset(cfg.dataset, 'test', { dataDir: cfg.dataDir, downloadUrl: cfg.downloadUrl }) : null,
      };
      const s = new Session(cfg, dtype, data.train, data.test, log, !resume, micro);
      try {
        if (resume) await restoreSession(s, resume);
        else if (init) applyInit(s, init);
        stop.startSteps();
        log(s.describe());
        const plan = sessionPlan(s);
        log(memoryLine(plan, dtype, limitsHere()));
        const { reason, message } = await runSteps(s, stop, hooks.progress !== false, plan.peak);
        return {
          reason, steps: s.step, history: s.history, checkpoint: s.lastCheckpoint, config: cfg,
          ...(message ? { message } : {}), ...(reason === 'interrupted' && stop.signal ? { signal: stop.signal } : {}),
        };
      } finally {
        s.dispose();
      }
    } finally {
      lock.release();
    }
  } finally {
    stop.dispose();
  }
}
