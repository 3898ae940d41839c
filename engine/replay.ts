// Step replay. A training step of a static network issues the same dispatches every time, so the
// engine runs one step eagerly while recording its commands (pipelines, bind groups, copies, grid
// sizes), then replays that list: no op code, no allocation, no bind-group creation per op.
// Every buffer the step touched is pinned (kept out of the pool) until the captured step is disposed.
// Contract: per-step inputs are written with tensor.write() into tensors created outside the capture
// (writes inside it are replayed with the captured data, which is right for constants only); state
// that persists across steps (momentum, running statistics) must exist before the capture, and
// nothing may be read back inside it.
import { flush, openEncoder, setRecorder, submitCommands, recording, sync, type Command, type Recorder } from './queue.ts';
import { deviceTimes, hasTimestamps } from './timestamps.ts';
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
   * Run the step once and time each command: its label (the kernel's key; bind groups carry the op's
   * name) and milliseconds. With 'timestamp-query' the time is the device's own (clock 'device');
   * otherwise each command is submitted alone and waited for, and the time is wall time including one
   * submit round trip (clock 'host', so tiny kernels read high). For finding where a step's time goes,
   * not for timing the step.
   */
  async profile(): Promise<{ kernel: string; op: string; ms: number; clock: 'device' | 'host' }[]> {
    if (this.disposed) throw new GpuError('captured step used after dispose()');
    await sync();
    const label = (c: Command) => (c.kind === 'dispatch' ? [c.pipeline.label, c.bindGroup.label.split(':')[0] ?? ''] : [c.kind, '']);
    if (hasTimestamps()) {
      const ms = await deviceTimes(this.rec.commands);
      return this.rec.commands.map((c, i) => { const [kernel, op] = label(c); return { kernel, op, ms: ms[i]!, clock: 'device' as const }; });
    }
    const out: { kernel: string; op: string; ms: number; clock: 'device' | 'host' }[] = [];
    for (const c of this.rec.commands) {
      const t0 = performance.now();
      submitCommands([c]);
      await device().queue.onSubmittedWorkDone();
      const [kernel, op] = label(c);
      out.push({ kernel, op, ms: performance.now() - t0, clock: 'host' });
    }
    return out;
  }

  /** Device milliseconds of one run of the whole step (summed per command), or null without timestamps. */
  async deviceMs(): Promise<number | null> {
    if (this.disposed) throw new GpuError('captured step used after dispose()');
    if (!hasTimestamps()) return null;
    return (await deviceTimes(this.rec.commands)).reduce((a, b) => a + b, 0);
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
    // With no encoder open a host write goes straight to the queue, unrecorded: the replay would not
    // repeat it, and the buffer may be reused later in the step. Opened, every write is a recorded copy.
    openEncoder();
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
