// The pending command encoder. Ops record compute dispatches into one open compute pass; nothing is
// submitted until flush() (or a read, which flushes). Uniforms of all dispatches since the last flush
// live in 256-byte slots of a few arena buffers, uploaded with one writeBuffer each at flush time.
// Host writes into tensors while work is pending go through a staging copy inside the encoder, so
// they stay ordered with the dispatches around them; that is why freed buffers can be reused at once.
import { device, takeGpuErrors } from './device.ts';
import { GpuError } from './errors.ts';

const ARENA_BYTES = 64 * 1024;

interface Arena { buffer: GPUBuffer; host: Uint8Array<ArrayBuffer>; used: number }

/** A recorded command, as step capture replays it. */
export type Command =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; x: number; y: number; z: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number };

/** What a step capture collects while its function runs (see replay.ts). */
export interface Recorder {
  commands: Command[];
  buffers: Set<GPUBuffer>;
  arenas: Arena[];
  staging: GPUBuffer[];
}

let encoder: GPUCommandEncoder | null = null;
let pass: GPUComputePassEncoder | null = null;
let arenas: Arena[] = [];
const freeArenas: Arena[] = [];
let afterSubmit: (() => void)[] = [];
let recorder: Recorder | null = null;
export const counters = { dispatches: 0, submits: 0 };

export function setRecorder(r: Recorder | null): void { recorder = r; }
export const recording = (): boolean => recorder !== null;

/** The pending command encoder, opened if there is none (host writes then go through it, in order). */
export function openEncoder(): GPUCommandEncoder {
  return (encoder ??= device().createCommandEncoder({ label: 'ops' }));
}

function computePass(): GPUComputePassEncoder {
  return (pass ??= openEncoder().beginComputePass({ label: 'ops' }));
}

function endPass(): GPUCommandEncoder {
  pass?.end();
  pass = null;
  return openEncoder();
}

export const hasPendingWork = (): boolean => encoder !== null;

/** A 256-byte-aligned uniform slot holding `data`; valid until the next flush. */
export function uniformSlot(data: ArrayBuffer): GPUBufferBinding {
  const align = device().limits.minUniformBufferOffsetAlignment;
  let a = arenas.at(-1);
  if (!a || a.used + data.byteLength > ARENA_BYTES) {
    a = freeArenas.pop() ?? {
      buffer: device().createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform-arena' }),
      host: new Uint8Array(ARENA_BYTES),
      used: 0,
    };
    a.used = 0;
    arenas.push(a);
  }
  const offset = a.used;
  a.host.set(new Uint8Array(data), offset);
  a.used = Math.ceil((offset + data.byteLength) / align) * align;
  return { buffer: a.buffer, offset, size: data.byteLength };
}

export function dispatch(pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, grid: readonly [number, number, number], buffers: GPUBuffer[]): void {
  const p = computePass();
  p.setPipeline(pipeline);
  p.setBindGroup(0, bindGroup);
  p.dispatchWorkgroups(grid[0], grid[1], grid[2]);
  counters.dispatches++;
  if (recorder) {
    recorder.commands.push({ kind: 'dispatch', pipeline, bindGroup, x: grid[0], y: grid[1], z: grid[2] });
    for (const b of buffers) recorder.buffers.add(b);
  }
}

export function copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
  endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
  if (recorder) {
    recorder.commands.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
    recorder.buffers.add(src).add(dst);
  }
}

export function clearBuffer(buffer: GPUBuffer, offset: number, size: number): void {
  endPass().clearBuffer(buffer, offset, size);
  if (recorder) {
    recorder.commands.push({ kind: 'clear', buffer, offset, size });
    recorder.buffers.add(buffer);
  }
}

/** Write host bytes into `dst`, ordered after every op recorded so far. */
export function writeBuffer(dst: GPUBuffer, dstOffset: number, bytes: ArrayBuffer | ArrayBufferView): void {
  const src = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  if (!encoder) {
    // TypeScript's DOM library takes only ArrayBuffer-backed views here; a page never has shared ones
    device().queue.writeBuffer(dst, dstOffset, src as Uint8Array<ArrayBuffer>);
    return;
  }
  const size = Math.ceil(src.byteLength / 4) * 4;
  const staging = device().createBuffer({ size, usage: GPUBufferUsage.COPY_SRC, mappedAtCreation: true, label: 'staging' });
  new Uint8Array(staging.getMappedRange()).set(src);
  staging.unmap();
  copyBuffer(staging, 0, dst, dstOffset, size);
  if (recorder) recorder.staging.push(staging); // the replay copies from it again
  else onSubmit(() => staging.destroy());
}

/** Run `fn` once the pending work has been submitted (or now, if nothing is pending). */
export function onSubmit(fn: () => void): void {
  if (encoder) afterSubmit.push(fn);
  else fn();
}

/** Submit everything recorded so far; throws GPU errors Dawn has reported by now (as sync() does). */
export function flush(): void {
  if (!encoder) { throwGpuErrors(); return; }
  endPass();
  const q = device().queue;
  for (const a of arenas) if (a.used > 0) q.writeBuffer(a.buffer, 0, a.host, 0, a.used);
  q.submit([encoder.finish()]);
  counters.submits++;
  encoder = null;
  if (recorder) recorder.arenas.push(...arenas); // the captured bind groups point into them
  else freeArenas.push(...arenas);
  arenas = [];
  const fns = afterSubmit;
  afterSubmit = [];
  for (const fn of fns) fn();
  throwGpuErrors();
}

/**
 * Encode a pre-recorded command list. Consecutive dispatches share one compute pass; with `timestamps`,
 * each dispatch gets a pass of its own whose beginning and end write queries 2i and 2i+1 (i = its index).
 */
export function encodeCommands(enc: GPUCommandEncoder, commands: readonly Command[], timestamps?: GPUQuerySet): void {
  let p: GPUComputePassEncoder | null = null;
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i]!;
    if (c.kind !== 'dispatch') {
      p?.end();
      p = null;
      if (c.kind === 'copy') enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
      else enc.clearBuffer(c.buffer, c.offset, c.size);
      continue;
    }
    p ??= enc.beginComputePass(timestamps
      ? { label: 'profile', timestampWrites: { querySet: timestamps, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } }
      : { label: 'replay' });
    p.setPipeline(c.pipeline);
    p.setBindGroup(0, c.bindGroup);
    p.dispatchWorkgroups(c.x, c.y, c.z);
    if (timestamps) { p.end(); p = null; }
  }
  p?.end();
}

/** Submit a pre-recorded command list (a replayed step), after any pending work. */
export function submitCommands(commands: readonly Command[]): void {
  flush();
  const enc = device().createCommandEncoder({ label: 'replay' });
  encodeCommands(enc, commands);
  device().queue.submit([enc.finish()]);
  counters.submits++;
}

/** Throw the first GPU error Dawn reported since the last check, if any. */
export function throwGpuErrors(): void {
  const errs = takeGpuErrors();
  if (errs.length) throw new GpuError(`GPU error${errs.length > 1 ? `s (${errs.length})` : ''}: ${errs.join('\n')}`);
}

/** Flush and wait until the GPU has finished everything submitted; rethrows GPU errors. */
export async function sync(): Promise<void> {
  flush();
  await device().queue.onSubmittedWorkDone();
  throwGpuErrors();
}

/** Copy `size` bytes of `src` back to the host (flushes pending work first). */
export async function readBytes(src: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
  if (recorder) throw new GpuError('cannot read a tensor back while a step is being captured: read after capture() returns');
  const padded = Math.ceil(size / 4) * 4;
  const staging = device().createBuffer({ size: padded, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
  endPass().copyBufferToBuffer(src, offset, staging, 0, padded);
  flush();
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    throwGpuErrors();
    throw new GpuError(`reading back ${size} bytes failed: ${(e as Error).message}`);
  }
  const out = staging.getMappedRange().slice(0, size);
  staging.unmap();
  staging.destroy();
  throwGpuErrors();
  return out;
}
