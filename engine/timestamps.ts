// Device time per command from timestamp queries (devices with 'timestamp-query'): each dispatch runs
// in its own compute pass whose beginning and end are timestamped, so a profile measures the kernels
// themselves, not the submit round trips that wall time adds. Copies and clears are not timed (0).
import { device, deviceInfo } from './device.ts';
import { GpuError } from './errors.ts';
import { encodeCommands, flush, type Command } from './queue.ts';

const MAX_QUERIES = 4096; // WebGPU's limit on a query set's count

/** Whether deviceTimes() can measure here. */
export const hasTimestamps = (): boolean => deviceInfo().timestampQuery;

/** Milliseconds of device time per command, in order (run once, after any pending work). */
export async function deviceTimes(commands: readonly Command[]): Promise<number[]> {
  if (!hasTimestamps()) throw new GpuError("this adapter has no 'timestamp-query' feature: time on the host instead");
  flush();
  const out: number[] = [];
  const perSet = MAX_QUERIES / 2;
  for (let start = 0; start < commands.length; start += perSet) {
    out.push(...await timeChunk(commands.slice(start, start + perSet)));
  }
  return out;
}

async function timeChunk(commands: readonly Command[]): Promise<number[]> {
  const d = device();
  const count = 2 * Math.max(1, commands.length);
  const querySet = d.createQuerySet({ type: 'timestamp', count, label: 'profile' });
  const resolve = d.createBuffer({ size: 8 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile-resolve' });
  const read = d.createBuffer({ size: 8 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile-read' });
  try {
    const enc = d.createCommandEncoder({ label: 'profile' });
    encodeCommands(enc, commands, querySet);
    enc.resolveQuerySet(querySet, 0, count, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 8 * count);
    d.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    // timestamps are nanoseconds; a device may reset or reorder them, so a negative span reads 0
    return commands.map((c, i) => (c.kind === 'dispatch' ? Math.max(0, Number(ticks[2 * i + 1] - ticks[2 * i])) / 1e6 : 0));
  } finally {
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  }
}
