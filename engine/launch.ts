// Kernels and their dispatch. A kernel is a pure function from a spec to WGSL, with a key naming the
// spec; one pipeline per key, cached and labelled with it. Binding 0 is the uniform struct `u`, then
// the storage buffers in order; entry point `main`. A kernel that states its bindings (kernels/kernel.ts
// does, from its spec) gets an explicit layout, so a buffer a variant's body never touches still binds.
import { device } from './device.ts';
import { OpError } from './errors.ts';
import { fmt } from './shape.ts';
import { dispatch, uniformSlot } from './queue.ts';
import type { Tensor } from './tensor.ts';

export interface Kernel<S> {
  key(spec: S): string;
  wgsl(spec: S): string;
  /** Whether binding 0 is a uniform struct, and each storage buffer's access, from binding 1 on. */
  bindings?(spec: S): { uniforms: boolean; storage: readonly ('read' | 'read_write')[] };
}

/** A tensor, or a byte range of one (for tensors beyond the per-binding size limit). */
export type Binding = Tensor | { tensor: Tensor; offset: number; size: number };

export interface LaunchArgs {
  uniforms?: ArrayBuffer;
  /** Storage buffers in binding order, from binding 1 (kernels/kernel.ts orders them from a spec). */
  buffers: readonly Binding[];
  grid: readonly [number, number, number];
}

const pipelines = new Map<string, GPUComputePipeline>();
const layouts = new Map<GPUComputePipeline, GPUBindGroupLayout>();

function explicitLayout(label: string, b: { uniforms: boolean; storage: readonly ('read' | 'read_write')[] }): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = b.storage.map((access, i) => ({
    binding: i + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
  }));
  if (b.uniforms) entries.unshift({ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
  return device().createBindGroupLayout({ label, entries });
}
let currentOp = 'op';

/** Run fn with `name` as the op that GPU objects are labelled with (so errors name it). */
export function withOp<T>(name: string, fn: () => T): T {
  const prev = currentOp;
  currentOp = name;
  try { return fn(); } finally { currentOp = prev; }
}

/**
 * Per pipeline key, what creating its module and pipeline cost: wall-clock ms, the process's CPU ms
 * (the compile's own unless GPU work was running meanwhile) and its WGSL's length.
 */
export interface PipelineCost { ms: number; cpuMs: number; wgslChars: number }
const creation = new Map<string, PipelineCost>();
// process CPU time where the host offers it (Node); 0 elsewhere (a browser)
const cpuMs = () => {
  const c = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process?.cpuUsage?.();
  return c ? (c.user + c.system) / 1000 : 0;
};
/** What each pipeline created so far cost (the suite holds each to a compile budget: tests/util/compile_budget.ts). */
export const pipelineCosts = (): ReadonlyMap<string, PipelineCost> => creation;

export function pipeline<S>(k: Kernel<S>, spec: S): GPUComputePipeline {
  const key = k.key(spec);
  let p = pipelines.get(key);
  if (!p) {
    const code = k.wgsl(spec), t0 = performance.now(), c0 = cpuMs();
    const module = device().createShaderModule({ label: key, code });
    const bg = k.bindings ? explicitLayout(key, k.bindings(spec)) : null;
    const layout = bg ? device().createPipelineLayout({ label: key, bindGroupLayouts: [bg] }) : 'auto';
    p = device().createComputePipeline({ label: key, layout, compute: { module, entryPoint: 'main' } });
    pipelines.set(key, p);
    creation.set(key, { ms: performance.now() - t0, cpuMs: cpuMs() - c0, wgslChars: code.length });
    if (bg) layouts.set(p, bg);
  }
  return p;
}

export const pipelineCount = (): number => pipelines.size;

let bindingLimitOverride: number | null = null;

/**
 * The largest byte range one storage binding may cover: the adapter's maxStorageBufferBindingSize, or
 * a lower limit set with setBindingLimit (tests run the windowed paths on small tensors with it).
 */
export function bindingLimit(): number {
  const adapter = device().limits.maxStorageBufferBindingSize;
  return bindingLimitOverride === null ? adapter : Math.min(adapter, bindingLimitOverride);
}

/** Lower the storage binding limit kernels see to `bytes` (a multiple of 16); null restores the adapter's. */
export function setBindingLimit(bytes: number | null): void {
  if (bytes !== null && !(Number.isSafeInteger(bytes) && bytes >= 256 && bytes % 16 === 0)) {
    throw new OpError('setBindingLimit', `the limit must be a whole number of 16-byte vectors, at least 256 bytes, got ${bytes}`);
  }
  bindingLimitOverride = bytes;
}

export function launch<S>(k: Kernel<S>, spec: S, args: LaunchArgs): void {
  const p = pipeline(k, spec);
  const entries: GPUBindGroupEntry[] = [];
  const buffers: GPUBuffer[] = [];
  if (args.uniforms) entries.push({ binding: 0, resource: uniformSlot(args.uniforms) });
  let binding = 1;
  const limit = bindingLimit();
  for (const b of args.buffers) {
    const resource: GPUBufferBinding = 'tensor' in b
      ? { buffer: b.tensor.buffer, offset: b.offset, size: b.size }
      : { buffer: b.buffer, offset: 0, size: Math.ceil(b.byteLength / 16) * 16 }; // whole vec4s / pairs: pool buffers have the room
    // caught here, by name, rather than as an opaque validation error at the next sync
    if (resource.size! > limit) {
      const what = 'tensor' in b ? `a ${resource.size}-byte range of ${b.tensor.dtype}${fmt(b.tensor.shape)}` : `${b.dtype}${fmt(b.shape)} (${b.byteLength} bytes)`;
      throw new OpError(currentOp, `${what} is over this adapter's ${limit}-byte${limit >= 2 ** 20 ? ` (${(limit / 2 ** 20).toFixed(0)} MiB)` : ''} storage binding limit and this kernel does not window it: use a smaller batch or image size`);
    }
    buffers.push(resource.buffer);
    entries.push({ binding: binding++, resource });
  }
  const bindGroup = device().createBindGroup({ label: `${currentOp}:${p.label}`, layout: layouts.get(p) ?? p.getBindGroupLayout(0), entries });
  dispatch(p, bindGroup, args.grid, buffers);
}

/**
 * Workgroups for `threads` invocations of `wg` each; over the per-dimension limit the grid folds into
 * 2-D, and kernels recover the flat index as gid.x + gid.y * nwg.x * wg.
 */
export function grid1d(threads: number, wg: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  const max = device().limits.maxComputeWorkgroupsPerDimension;
  return groups <= max ? [groups, 1, 1] : [max, Math.ceil(groups / max), 1];
}
