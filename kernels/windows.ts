// Binding windows: a kernel binds each tensor whole while it fits the adapter's storage binding limit
// (maxStorageBufferBindingSize, often 128 MiB); a larger batch runs as several dispatches, each binding
// a window of consecutive images (rows of the leading axis) of every batched tensor at a byte offset.
// Windows start on the adapter's offset alignment (minStorageBufferOffsetAlignment) and every window
// but the last ends on it too, so a packed half or a 16-byte vector is never split between windows.
// Kernels that sum over the batch (batch-norm statistics, weight gradients) write one partial per
// window and combine them afterwards. When everything fits there is one window and each tensor is
// bound as before, so small batches take exactly the unwindowed path.
import { OpError, Tensor, bindingLimit, deviceInfo, fmt, type Binding } from '../engine/index.ts';

/** Rows [first, first + count) of every windowed tensor (images of a batch, or elements of a flat op). */
export interface Window { first: number; count: number }

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
const lcm = (a: number, b: number) => (a / gcd(a, b)) * b;

/** Bytes of one of t's `rows` equal rows (images when rows = the batch). */
function rowBytes(op: string, t: Tensor, rows: number): number {
  if (t.size % rows !== 0) throw new OpError(op, `cannot window ${t.dtype}${fmt(t.shape)} in ${rows} rows: ${t.size} elements do not split evenly`);
  return (t.size / rows) * (t.dtype === 'f32' ? 4 : 2);
}

/**
 * The windows over `rows` rows (a batch's images, or single elements) that keep every tensor in
 * `windowed` (each viewed as `rows` equal rows) within the storage binding limit: one window
 * [0, rows) when all fit, else as few as the limit and the offset alignment allow. Throws, naming the
 * tensor, when even the smallest aligned window is over the limit.
 */
export function batchWindows(op: string, rows: number, windowed: readonly Tensor[]): Window[] {
  const limit = bindingLimit();
  if (rows <= 1 || windowed.every((t) => Math.ceil(t.byteLength / 16) * 16 <= limit)) return [{ first: 0, count: rows }];
  const align = deviceInfo().limits.minStorageBufferOffsetAlignment;
  let step = 1, most = rows;
  for (const t of windowed) {
    const row = rowBytes(op, t, rows);
    step = lcm(step, align / gcd(row, align));
    most = Math.min(most, Math.floor(limit / row));
  }
  const count = Math.floor(most / step) * step;
  if (count === 0) {
    const t = windowed.reduce((a, b) => (b.byteLength > a.byteLength ? b : a));
    throw new OpError(op, `${t.dtype}${fmt(t.shape)} (${t.byteLength} bytes) is over the ${limit}-byte storage binding limit, and a window must hold a multiple ` +
      `of ${step} rows (so that every windowed tensor's windows start on the ${align}-byte offset alignment), ${rowBytes(op, t, rows) * step} bytes of it: use a smaller image size or model`);
  }
  const windows: Window[] = [];
  for (let first = 0; first < rows; first += count) windows.push({ first, count: Math.min(count, rows - first) });
  return windows;
}

/**
 * A window's rows of t (viewed as `rows` equal rows): t itself when the window is all of it, else its
 * byte range, rounded up to whole 16-byte vectors as whole tensors are bound (only the last window
 * is rounded, into the pool buffer's padding).
 */
export function rowsOf(t: Tensor, rows: number, w: Window): Binding {
  if (w.first === 0 && w.count === rows) return t;
  const row = (t.size / rows) * (t.dtype === 'f32' ? 4 : 2);
  return { tensor: t, offset: w.first * row, size: Math.ceil((w.count * row) / 16) * 16 };
}
