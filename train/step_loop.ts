// The step loop. Step 1 runs eagerly (it creates the momentum buffers' live state), step 2 runs while
// being captured, and every later step replays the capture after the host has written the next batch
// into the same input tensors. The host prepares batch k+1 (gather, random crops) while the GPU runs
// step k, and waits for the GPU only when it reads the metrics back (every --log-every steps, at epoch
// ends, before stopping and before a periodic checkpoint). Each read-back updates the progress bar
// (its ETA runs to the epoch's end or --max-steps, whichever comes first, at the rate of replayed steps)
// and metrics.jsonl and applies the NaN policy; epoch ends go to train/epoch_end.ts; a stop signal and
// --max-steps save and stop; --checkpoint-every saves inside an epoch (train/periodic_checkpoint.ts).
// The first read-back also logs the pool's measured peak of live memory beside the memory plan's.
// Between steps 1 and 2 (before the capture) the problems step 1 dispatched that have no cached kernel
// choice are tuned for up to --tune-seconds (train/first_step_tuning.ts).
import { capture, poolStats, resetPoolPeak, sync, type CapturedStep } from '../engine/index.ts';
import { STATS } from '../kernels/step_metrics.ts';
import { progressBar, type ProgressBar } from './data/progress.ts';
import { lrAt } from './schedule.ts';
import { trainStep } from './step.ts';
import { addStats, decodeStats, type Metrics } from './step_metrics.ts';
import { endEpoch } from './epoch_end.ts';
import { saveSession } from './resume.ts';
import { RunEstimate } from './adapter.ts';
import { nonFiniteLoss, type StopSignal } from './stop_policy.ts';
import { CheckpointClock, parseCheckpointEvery } from './periodic_checkpoint.ts';
import type { Session } from './session.ts';
import { FirstStepTuning } from './first_step_tuning.ts';

export type StopReason = 'done' | 'max-steps' | 'interrupted' | 'nan';

/**
 * Runs steps until the run ends or stops; saves the checkpoints that go with stopping. `plannedPeak`:
 * the memory plan's peak bytes (train/memory_plan.ts), reported beside the measured one.
 */
export async function runSteps(s: Session, stop: StopSignal, progress: boolean, plannedPeak: number): Promise<{ reason: StopReason; message?: string }> {
  const { cfg, S } = s;
  const tuning = new FirstStepTuning(cfg.tuneSeconds, s.log);
  const runner = new StepRunner(s, tuning);
  const window = new MetricsWindow(s);
  const memory = new MemoryReport(plannedPeak);
  const estimate = new RunEstimate();
  const clock = new CheckpointClock(parseCheckpointEvery(cfg.checkpointEvery), s.step);
  let bar: ProgressBar | null = null;
  /** The batch (1-based, in this epoch) the bar's ETA runs to: the epoch's last or --max-steps'. */
  let barEnd = S;
  const closeBar = () => { bar?.done(); bar = null; };
  let end: { reason: StopReason; message?: string } = { reason: 'done' };
  try {
    let pending = s.step < s.stopAt ? s.prepare() : null;
    while (pending && s.step < s.stopAt) {
      const b = pending;
      const lr = lrAt(s.step, s.schedule);
      s.upload(b, lr);
      if (!bar && progress) {
        bar = progressBar({ label: `epoch ${b.epoch + 1}/${cfg.epochs}`, total: S });
        barEnd = Math.min(S, s.stopAt - (s.step - (b.batch - 1)));
      }
      runner.run();
      s.step++;
      window.steps++;
      const epochDone = b.batch === S;
      pending = s.step < s.stopAt ? s.prepare() : null; // the host's share of the next step, while the GPU works
      if (runner.runs === 1 && tuning.wanted) { closeBar(); await tuning.tune(); }
      if (runner.runs === 2) { await sync(); estimate.start(s.step); window.restart(); } // time replayed steps only
      await new Promise<void>((r) => setImmediate(r)); // lets a signal be noticed between steps
      stop.poll();
      await stop.parkIfExiting();
      const stopping = stop.requested || s.step === s.stopAt;
      const periodic = !epochDone && !stopping && clock.due(s.step);

      if (s.step % cfg.logEvery === 0 || epochDone || stopping || periodic) {
        const { m, ips } = await window.read();
        const left = barEnd - b.batch;
        const eta = left > 0 ? estimate.secondsPerStep(s.step) * left : 0;
        bar?.update(b.batch, `loss ${m.lastLoss.toFixed(4)} lr ${lr.toPrecision(3)} ${Number.isFinite(ips) ? ips.toFixed(1) : '-'} img/s`, eta);
        s.writeMetrics({ event: 'step', epoch: b.epoch + 1, step: s.step, loss: m.loss, lastLoss: m.lastLoss, lr, imagesPerSec: ips, time: Date.now() / 1000 });
        if (m.skippedSteps > 0) s.log(`\nstep ${s.step}: ${m.skippedSteps} update(s) skipped for Inf/NaN gradients; loss scale now ${(await s.opt.lossScaleState()).scale}`);
        if (m.nonFiniteSteps > 0) {
          const v = nonFiniteLoss(m, cfg, s.step, b.epoch + 1, s.lastCheckpoint);
          if (v.stop) {
            closeBar();
            s.log(v.message);
            end = { reason: 'nan', message: v.message };
            break;
          }
          s.log(v.note);
        }
        const mem = memory.line(runner.runs);
        if (mem) { closeBar(); s.log(mem); }
        const line = estimate.line(s.step, cfg, S, s.stopAt);
        if (line) { closeBar(); s.log(line); }
      }

      if (epochDone) {
        closeBar();
        await endEpoch(s, b.epoch + 1, pending);
        clock.saved(s.step);
        window.restart(); // images/s counts training, not evaluation and saving
      }
      if (periodic) {
        await saveSession(s, pending, b.epoch + 1, b.batch, 'periodic');
        clock.saved(s.step);
        window.restart();
      }
      if (stop.requested) {
        closeBar();
        await stop.parkIfExiting();
        if (!epochDone) await saveSession(s, pending, b.epoch + 1, b.batch);
        s.log(`stopped at step ${s.step}; saved ${s.lastCheckpoint}. Continue with --resume ${s.lastCheckpoint}`);
        end = { reason: 'interrupted' };
        break;
      }
      if (s.step === s.stopAt && s.stopAt < s.totalSteps) {
        closeBar();
        if (!epochDone) await saveSession(s, pending, b.epoch + 1, b.batch);
        s.log(`reached --max-steps ${cfg.maxSteps}; saved ${s.lastCheckpoint}`);
        end = { reason: 'max-steps' };
      }
    }
    await sync();
    return end;
  } finally {
    closeBar();
    runner.dispose();
  }
}

/** Step 1 eager, step 2 captured, then replays of the capture. */
class StepRunner {
  /** Steps run by this process (a resumed run starts again from an eager step). */
  runs = 0;
  private captured: CapturedStep | null = null;

  constructor(private readonly s: Session, private readonly tuning: FirstStepTuning) {}

  run(): void {
    const { model, opt, t, shape } = this.s;
    if (this.captured) this.captured.run();
    else if (this.runs === 0) this.tuning.record(() => trainStep(model, opt, t, shape));
    else this.captured = capture(() => trainStep(model, opt, t, shape)).step;
    this.runs++;
  }

  dispose(): void { this.captured?.dispose(); }
}

/** The pool's peak of live bytes over this process's first steps, once, beside the plan's estimate. */
class MemoryReport {
  private done = false;

  constructor(private readonly planned: number) { resetPoolPeak(); } // from what the session holds before its first step

  line(steps: number): string | null {
    if (this.done) return null;
    this.done = true;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`, p = poolStats();
    return `memory: peak ${mib(p.peakBytes)} of live tensors in the first ${steps} step${steps === 1 ? '' : 's'} (the plan said ${mib(this.planned)}); ` +
      `${mib(p.totalBytes)} of buffers held by the pool`;
  }
}

/** The metrics since the last read-back and the images per second over them. */
class MetricsWindow {
  /** Steps in the window. */
  steps = 0;
  private start = performance.now();

  constructor(private readonly s: Session) {}

  restart(): void {
    this.start = performance.now();
    this.steps = 0;
  }

  /** Read the window back (waits for the GPU), fold it into the epoch's, and start the next; ips is NaN for a window of no steps. */
  async read(): Promise<{ m: Metrics; ips: number }> {
    const { t, epochStats, N } = this.s;
    const w = await t.stats.read();
    t.stats.write(new Float32Array(STATS));
    addStats(epochStats, w);
    const m = decodeStats(w);
    const now = performance.now();
    const ips = this.steps > 0 ? (this.steps * N) / ((now - this.start) / 1000) : NaN;
    this.start = now;
    this.steps = 0;
    return { m, ips };
  }
}
