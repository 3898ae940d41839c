// When a run stops early. SIGINT (Ctrl-C), SIGTERM and SIGHUP (or a test's shouldStop hook) finish
// the current step, save a checkpoint and return; the program then exits with 128 + the signal's
// number (130, 143, 129). A second signal exits at once (when the GPU work in flight is done) with its
// own code, without saving. A signal during start-up (before the first step) exits at once too:
// there is nothing to save yet. A non-finite loss stops a run with a fixed loss scale without saving
// (its weights are already bad); with dynamic loss scaling those steps' updates were skipped on the
// GPU, so the run goes on.
import * as os from 'node:os';
import { device } from '../engine/index.ts';
import type { Metrics } from './step_metrics.ts';
import type { TrainConfig } from './config.ts';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignalName = (typeof STOP_SIGNALS)[number];

/** The conventional exit status of a process ended by `sig`: 128 + its number. */
export const signalExitCode = (sig: StopSignalName): number => 128 + os.constants.signals[sig];

const said = (sig: StopSignalName) => (sig === 'SIGINT' ? 'Ctrl-C (SIGINT)' : sig);

/**
 * Exit with `code` once the GPU work already submitted has finished (at most EXIT_WAIT_MS): exiting
 * mid-dispatch let SwiftShader's worker threads outlive its teardown, and the process died of a signal
 * instead of exiting with its code. (Destroying the device first hung on lavapipe.)
 */
const EXIT_WAIT_MS = 3000;
function exitWhenIdle(code: number): void {
  let idle: Promise<unknown> = Promise.resolve();
  try { idle = device().queue.onSubmittedWorkDone(); } catch { /* no device yet (a signal during start-up) */ }
  const timeout = new Promise((r) => setTimeout(r, EXIT_WAIT_MS));
  void Promise.race([idle, timeout]).catch(() => {}).then(() => process.exit(code));
}

/** The stop signals and the shouldStop hook, seen between steps. */
export class StopSignal {
  private stop = false;
  private running = false;
  /** The signal that asked for the stop (null: none, or the shouldStop hook). */
  signal: StopSignalName | null = null;

  constructor(private readonly log: (line: string) => void, private readonly shouldStop?: () => boolean) {
    for (const s of STOP_SIGNALS) process.on(s, this.onSignal);
  }

  private readonly onSignal = (sig: StopSignalName): void => {
    // the terminal that sent SIGHUP is gone: writing to it must not stop the save
    if (sig === 'SIGHUP') for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
    if (this.exiting) return;
    if (!this.running) { this.log(`\n${said(sig)} during start-up: nothing to save yet; exiting`); this.exit(sig); return; }
    if (this.stop && this.signal) { this.log(`\n${said(sig)} again: exiting without saving`); this.exit(sig); return; }
    this.stop = true;
    this.signal = sig;
    this.log(`\n${said(sig)}: finishing the current step, then saving a checkpoint (a second signal exits at once)`);
  };

  private exiting = false;

  private exit(sig: StopSignalName): void {
    this.exiting = true;
    exitWhenIdle(signalExitCode(sig));
  }

  /** Never resolves once a signal is exiting the process (see exitWhenIdle): steps and saves stop here. */
  async parkIfExiting(): Promise<void> {
    if (this.exiting) await new Promise<never>(() => {});
  }

  /** From here on a signal stops after the current step with a checkpoint (before: it exits at once). */
  startSteps(): void { this.running = true; }

  /** Whether a stop was asked for (a signal may arrive during any await). */
  get requested(): boolean { return this.stop; }

  /** After a step: polls shouldStop (until a stop is asked for) and says whether to stop. */
  poll(): boolean {
    if (!this.stop && (this.shouldStop?.() ?? false)) this.stop = true;
    return this.stop;
  }

  dispose(): void { for (const s of STOP_SIGNALS) process.off(s, this.onSignal); }
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
