// Step replay. A training step of a static network issues the same dispatches every time, so the
// engine runs one step eagerly while recording its commands (pipelines, bind groups, copies, grid
// sizes), then replays that list: no op code, no allocation, no bind-group creation per op.
// Every buffer the step touched is pinned (kept out of the pool) until the captured step is disposed.
// Contract: per-step inputs are written with tensor.write() into tensors created outside the capture
// (writes inside it are replayed with the captured data, which is right for constants only); state
// that persists across steps (momentum, running statistics) must exist before the capture, and
// nothing may be read back inside it.
import { flush, setRecorder, submitCommands, recording, sync, type Recorder } from './queue.ts';
import { device } from './device.ts';
import { pin, unpin } from './pool.ts';
import { GpuError } from './errors.ts';

export class CapturedStep {
  private disposed = false;
  constructor(private readonly rec: Recorder) {}

  /** Commands replayed per run(). */
  get commands(): number { return this.rec.commands.length; }

  /** Submit the captured step again (after any pending eager work). */
  run(): void {
    if (this.disposed) throw new GpuError('captured step used after dispose()');
    submitCommands(this.rec.commands);
  }

  /**
   * Run the step once, one command per submit, waiting for each: per command its label (the kernel's
   * key; bind groups carry the op's name) and wall time (the kernel plus one submit round trip, so
   * tiny kernels read high). For finding where a step's time goes, not for timing the step.
   */
  async profile(): Promise<{ kernel: string; op: string; ms: number }[]> {
    if (this.disposed) throw new GpuError('captured step used after dispose()');
    await sync();
    const out: { kernel: string; op: string; ms: number }[] = [];
    for (const c of this.rec.commands) {
      const t0 = performance.now();
      submitCommands([c]);
      await device().queue.onSubmittedWorkDone();
      const [kernel, op] = c.kind === 'dispatch' ? [c.pipeline.label, c.bindGroup.label.split(':')[0] ?? ''] : [c.kind, ''];
      out.push({ kernel, op, ms: performance.now() - t0 });
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    flush();
    for (const b of this.rec.buffers) unpin(b);
    for (const s of this.rec.staging) s.destroy();
    for (const a of this.rec.arenas) a.buffer.destroy();
  }
}

/** Run `fn` once (eagerly, its results are real) and capture its GPU work for replay. */
export function capture<T>(fn: () => T): { step: CapturedStep; result: T } {
  if (recording()) throw new GpuError('capture() cannot be nested');
  flush(); // earlier work must not land in the captured command list or its uniform arenas
  const rec: Recorder = { commands: [], buffers: new Set(), arenas: [], staging: [] };
  setRecorder(rec);
  let result: T;
  try {
    result = fn();
    flush();
  } catch (e) {
    setRecorder(null);
    for (const s of rec.staging) s.destroy();
    throw e;
  }
  setRecorder(null);
  for (const b of rec.buffers) pin(b);
  return { step: new CapturedStep(rec), result };
}
