// A GPU tensor: shape, dtype and a pooled storage buffer. Lifetimes are explicit: each Tensor object
// is one reference to its storage, dropped by dispose() (idempotent); views (reshapeView) and extra
// owners (share()) are further Tensor objects over the same storage; scope() disposes what it created.
import { type DType, storageBytes, encode, decode } from './dtype.ts';
import { GpuError, OpError } from './errors.ts';
import { acquire, release } from './pool.ts';
import { readBytes, writeBuffer, clearBuffer } from './queue.ts';
import { currentScope } from './scope.ts';
import { type Shape, numel, fmt } from './shape.ts';
import { env } from './env.ts';
import { device } from './device.ts';

/** A pooled buffer shared by a tensor and its views. */
class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
}

const leaks = env('WG_LEAKS')
  ? new FinalizationRegistry<string>((what) => console.warn(`leaked tensor ${what}: garbage-collected without dispose()`))
  : null;

let nextId = 1;

/** Refuse a shape that is not a list of non-negative integers, naming the first bad dimension. */
function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape)) throw new OpError(op, `shape must be an array of dimensions, got ${String(shape)}`);
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new OpError(op, `invalid shape ${fmt(shape)}: dimension ${i} is ${typeof d === 'number' ? d : JSON.stringify(d)}; dimensions must be non-negative integers`);
    }
  });
}

export interface TensorOptions { requiresGrad?: boolean }

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  private storage: Storage | null;
  requiresGrad = false;
  /** Set on op outputs that are recorded on the tape; leaves are tensors no op produced. */
  isLeaf = true;
  /** Accumulated gradient of a leaf that requires grad. */
  grad: Tensor | null = null;

  private constructor(shape: Shape, readonly dtype: DType, storage: Storage, scoped = true) {
    for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new OpError('Tensor', `invalid shape ${fmt(shape)}`);
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.storage = storage;
    if (scoped) currentScope()?.push(this);
    leaks?.register(this, this.toString(), this);
  }

  /** Uninitialised tensor from the pool. */
  static empty(shape: Shape, dtype: DType = 'f32', opts: TensorOptions = {}): Tensor {
    checkShape('Tensor.empty', shape);
    const bytes = storageBytes(numel(shape), dtype);
    const max = device().limits.maxBufferSize;
    if (bytes > max) {
      throw new OpError('Tensor', `${dtype}${fmt(shape)} would be ${bytes} bytes (${(bytes / 2 ** 20).toFixed(0)} MiB), over this adapter's largest buffer ` +
        `(maxBufferSize ${max} bytes, ${(max / 2 ** 20).toFixed(0)} MiB): use a smaller batch or image size (training: --micro-batch)`);
    }
    const t = new Tensor(shape, dtype, new Storage(acquire(bytes), bytes));
    t.requiresGrad = !!opts.requiresGrad;
    return t;
  }

  static zeros(shape: Shape, dtype: DType = 'f32', opts: TensorOptions = {}): Tensor {
    checkShape('Tensor.zeros', shape);
    const t = Tensor.empty(shape, dtype, opts);
    clearBuffer(t.buffer, 0, t.byteLength);
    return t;
  }

  static full(shape: Shape, value: number, dtype: DType = 'f32', opts: TensorOptions = {}): Tensor {
    checkShape('Tensor.full', shape);
    return Tensor.from(new Float32Array(numel(shape)).fill(value), shape, dtype, opts);
  }

  /** Upload host data (converted to `dtype`). */
  static from(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32', opts: TensorOptions = {}): Tensor {
    checkShape('Tensor.from', shape);
    if (data.length !== numel(shape)) throw new OpError('Tensor.from', `data has ${data.length} elements but shape ${fmt(shape)} needs ${numel(shape)}`);
    const t = Tensor.empty(shape, dtype, opts);
    t.write(data);
    return t;
  }

  get buffer(): GPUBuffer {
    if (this.storage) return this.storage.buffer;
    throw new GpuError(`${this} used after dispose()`);
  }

  /** Bytes this tensor's elements occupy (the pooled buffer may be larger). */
  get byteLength(): number { return storageBytes(this.size, this.dtype); }

  get isDisposed(): boolean { return this.storage === null; }

  /** Overwrite the contents from host data, ordered after all work recorded so far. */
  write(data: ArrayLike<number>): void {
    if (data.length !== this.size) throw new OpError('Tensor.write', `data has ${data.length} elements, ${this} needs ${this.size}`);
    writeBuffer(this.buffer, 0, encode(data, this.dtype));
  }

  /** Download as float32 (flushes pending work). */
  async read(): Promise<Float32Array> {
    const bytes = await readBytes(this.buffer, 0, this.byteLength);
    return decode(bytes, this.size, this.dtype);
  }

  /** A view with another shape over the same storage (no copy). */
  reshapeView(shape: Shape): Tensor {
    checkShape('reshape', shape);
    if (numel(shape) !== this.size) throw new OpError('reshape', `cannot view ${fmt(this.shape)} (${this.size} elements) as ${fmt(shape)} (${numel(shape)})`);
    const s = this.storage;
    if (!s) throw new GpuError(`${this} used after dispose()`);
    s.refs++;
    return new Tensor(shape, this.dtype, s);
  }

  /**
   * Another owner of the same storage, outside any scope: it lives until its own dispose(),
   * whatever happens to this handle. Autograd keeps saved tensors and gradients this way.
   */
  share(): Tensor {
    const s = this.storage;
    if (!s) throw new GpuError(`${this} shared after dispose()`);
    s.refs++;
    const t = new Tensor(this.shape, this.dtype, s, false);
    t.requiresGrad = this.requiresGrad;
    return t;
  }

  /** A handle no scope will dispose, replacing this one (which is disposed). */
  own(): Tensor {
    const t = this.share();
    this.dispose();
    return t;
  }

  /** Drop this handle's reference; the storage returns to the pool when the last handle goes. */
  dispose(): void {
    if (!this.storage) return;
    const s = this.storage;
    this.storage = null;
    if (--s.refs === 0) release(s.buffer);
    this.grad?.dispose();
    this.grad = null;
    leaks?.unregister(this);
  }

  toString(): string { return `Tensor#${this.id} ${this.dtype}${fmt(this.shape)}`; }
}
