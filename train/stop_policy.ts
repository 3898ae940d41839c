// When a run stops early: Ctrl-C (or a test's shouldStop hook) finishes the current step, saves a
// checkpoint and returns; a second Ctrl-C exits at once. A non-finite loss stops a run with a fixed
// loss scale without saving (its weights are already bad); with dynamic loss scaling those steps'
// updates were skipped on the GPU, so the run goes on.
import type { Metrics } from './step_metrics.ts';
import type { TrainConfig } from './config.ts';

/** Ctrl-C and the shouldStop hook, seen between steps. */
export class StopSignal {
  private stop = false;

  constructor(private readonly log: (line: string) => void, private readonly shouldStop?: () => boolean) {
    process.on('SIGINT', this.onSigint);
  }

  private readonly onSigint = (): void => {
    if (this.stop) { this.log('\nsecond Ctrl-C: exiting without saving'); process.exit(130); }
    this.stop = true;
    this.log('\nCtrl-C: finishing the current step, then saving a checkpoint (Ctrl-C again to exit now)');
  };

  /** Whether a stop was asked for (a Ctrl-C may arrive during any await). */
  get requested(): boolean { return this.stop; }

  /** After a step: polls shouldStop (until a stop is asked for) and says whether to stop. */
  poll(): boolean {
    if (!this.stop && (this.shouldStop?.() ?? false)) this.stop = true;
    return this.stop;
  }

  dispose(): void { process.off('SIGINT', this.onSigint); }
}

/** What a metrics window with non-finite losses means: stop (with the message) or note it (dynamic scaling) and go on. */
export function nonFiniteLoss(m: Metrics, cfg: TrainConfig, step: number, epoch: number, lastCheckpoint: string | null): { stop: true; message: string } | { stop: false; note: string } {
  if (cfg.dynamicLossScale) return { stop: false, note: `\nstep ${step}: ${m.nonFiniteSteps} step(s) with a non-finite loss (dynamic loss scaling skips their updates)` };
  return {
    stop: true,
    message: `the loss became non-finite (${m.nonFiniteSteps} step(s), last loss ${m.lastLoss}) by step ${step} (epoch ${epoch}); stopping without saving. ` +
      `The last good checkpoint is ${lastCheckpoint ?? '(none yet)'}. Try a lower --lr, --precision fp32 or --dynamic-loss-scale.`,
  };
}
