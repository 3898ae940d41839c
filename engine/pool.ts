// Size-class pool of storage buffers. Freed buffers are reused by later tensors of the same class;
// buffers pinned by a captured step (replay.ts) are parked instead of reused until it is disposed.
import { device } from './device.ts';
import { GpuError } from './errors.ts';

export interface PoolStats {
  /** Bytes held by live tensors (by size class). */
  liveBytes: number;
  peakBytes: number;
  /** Buffers ever created (createBuffer calls). */
  allocations: number;
  /** Bytes of all buffers the pool owns: live, free and parked. */
  totalBytes: number;
  /** acquire() calls served from the free lists. */
  reuses: number;
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Classes at 2^k x {1, 1.25, 1.5, 1.75}: at most 25% slack, few enough classes to reuse well. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  const p = 2 ** Math.floor(Math.log2(b));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) if (p * f >= b) return Math.ceil((p * f) / 256) * 256;
  return 2 * p;
}

const free = new Map<number, GPUBuffer[]>();
const sizeOf = new Map<GPUBuffer, number>();
const pins = new Map<GPUBuffer, number>();
const parked = new Set<GPUBuffer>();
export const stats: PoolStats = { liveBytes: 0, peakBytes: 0, allocations: 0, totalBytes: 0, reuses: 0 };

export function acquire(bytes: number): GPUBuffer {
  const cls = sizeClass(bytes);
  let buf = free.get(cls)?.pop();
  if (buf) stats.reuses++;
  else {
    const max = device().limits.maxBufferSize;
    if (cls > max) throw new GpuError(`cannot allocate ${bytes} bytes: this adapter's largest buffer is ${max} bytes; use a smaller batch or image size`);
    buf = device().createBuffer({ size: cls, usage: USAGE(), label: `pool/${cls}` });
    sizeOf.set(buf, cls);
    stats.allocations++;
    stats.totalBytes += cls;
  }
  stats.liveBytes += cls;
  stats.peakBytes = Math.max(stats.peakBytes, stats.liveBytes);
  return buf;
}

export function release(buf: GPUBuffer): void {
  const cls = sizeOf.get(buf)!;
  stats.liveBytes -= cls;
  if (pins.has(buf)) parked.add(buf);
  else pushFree(buf, cls);
}

function pushFree(buf: GPUBuffer, cls: number) {
  let list = free.get(cls);
  if (!list) free.set(cls, (list = []));
  list.push(buf);
}

/** Keep `buf` out of the free lists while a captured step refers to it. */
export function pin(buf: GPUBuffer): void {
  if (!sizeOf.has(buf)) return; // not a pool buffer (uniform arena, staging)
  pins.set(buf, (pins.get(buf) ?? 0) + 1);
  const list = free.get(sizeOf.get(buf)!);
  const i = list ? list.indexOf(buf) : -1;
  if (i >= 0) { list!.splice(i, 1); parked.add(buf); }
}

export function unpin(buf: GPUBuffer): void {
  const n = pins.get(buf);
  if (n === undefined) return;
  if (n > 1) { pins.set(buf, n - 1); return; }
  pins.delete(buf);
  if (parked.delete(buf)) pushFree(buf, sizeOf.get(buf)!);
}

/** Destroy every free buffer (memory back to the driver); live and parked ones stay. */
export function trim(): void {
  for (const list of free.values()) for (const b of list.splice(0)) {
    stats.totalBytes -= sizeOf.get(b)!;
    sizeOf.delete(b);
    b.destroy();
  }
}

export const poolStats = (): PoolStats => ({ ...stats });

/** Measure peakBytes afresh from the bytes live now (e.g. to see one training step's peak). */
export function resetPeak(): void { stats.peakBytes = stats.liveBytes; }
