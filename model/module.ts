// Module: a tree of named parameters and buffers, in PyTorch's state_dict order and names, so a
// checkpoint's tensor names are `first_conv.0.weight`, `features.3.branch_main_2.1.running_var`, ...
// Order (as torch.nn.Module.state_dict): a module's own parameters, then its own buffers, then each child
// in registration order. Parameters and buffers are f32 tensors owned by the module (outside any scope);
// dispose() frees them. Batch-norm weight/bias are registered with decay = false: they are the
// gamma/beta that the optimizer excludes from weight decay (MindSpore's and the seed's rule).
import { Tensor, fmt, numel, type Shape } from '../engine/index.ts';

/** A tensor on the host, as checkpoints hold them (row-major). */
export interface HostTensor { shape: readonly number[]; data: ArrayLike<number> }

export interface Parameter { name: string; tensor: Tensor; decay: boolean }
export interface NamedBuffer { name: string; tensor: Tensor }

export class StateDictError extends Error {
  override name = 'StateDictError';
}

export class Module {
  training = true;
  private readonly ownParams: [string, Tensor, boolean][] = [];
  private readonly ownBuffers: [string, Tensor][] = [];
  private readonly children: [string, Module][] = [];

  /** Register a trainable f32 tensor created from host data (requiresGrad, owned by this module). */
  protected param(name: string, shape: Shape, data: ArrayLike<number>, decay = true): Tensor {
    const t = Tensor.from(data, shape, 'f32', { requiresGrad: true }).own();
    this.ownParams.push([name, t, decay]);
    return t;
  }

  /** Register a non-trainable f32 tensor (running statistics). */
  protected buffer(name: string, shape: Shape, data: ArrayLike<number>): Tensor {
    const t = Tensor.from(data, shape, 'f32').own();
    this.ownBuffers.push([name, t]);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.push([name, m]);
    return m;
  }

  /** Training mode (batch statistics, running-stat updates) for this module and all below it. */
  train(mode = true): this {
    this.training = mode;
    for (const [, c] of this.children) c.train(mode);
    return this;
  }

  eval(): this { return this.train(false); }

  /** Trainable tensors in state_dict order; `decay` is false for batch-norm gamma/beta. */
  parameters(prefix = ''): Parameter[] {
    return [
      ...this.ownParams.map(([n, tensor, decay]) => ({ name: prefix + n, tensor, decay })),
      ...this.children.flatMap(([n, c]) => c.parameters(`${prefix}${n}.`)),
    ];
  }

  /** Running statistics, in state_dict order. */
  buffers(prefix = ''): NamedBuffer[] {
    return [
      ...this.ownBuffers.map(([n, tensor]) => ({ name: prefix + n, tensor })),
      ...this.children.flatMap(([n, c]) => c.buffers(`${prefix}${n}.`)),
    ];
  }

  /** Every parameter and buffer by name (GPU handles, not copies), in PyTorch's state_dict order. */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, t] of this.ownParams) out.set(prefix + n, t);
    for (const [n, t] of this.ownBuffers) out.set(prefix + n, t);
    for (const [n, c] of this.children) for (const [k, t] of c.stateDict(`${prefix}${n}.`)) out.set(k, t);
    return out;
  }

  /** The state dict read back to the host (one read per tensor). */
  async readStateDict(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, t] of this.stateDict()) out.set(k, { shape: [...t.shape], data: await t.read() });
    return out;
  }

  /**
   * Overwrite parameters and buffers from host tensors. Strict (the default): every name must be
   * present and nothing else. Either way a wrong shape is an error, and every problem is listed in one
   * message naming the tensors. Nothing is written unless the whole dict checks out.
   */
  loadStateDict(sd: Map<string, HostTensor> | Record<string, HostTensor>, strict = true, source = 'loadStateDict'): { missing: string[]; unexpected: string[] } {
    const given = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k)).sort();
    const wrong: string[] = [];
    for (const [k, t] of own) {
      const h = given.get(k);
      if (!h) continue;
      if (h.shape.length !== t.shape.length || h.shape.some((d, i) => d !== t.shape[i])) wrong.push(`${k}: expected ${fmt(t.shape)}, got ${fmt(h.shape)}`);
      else if (h.data.length !== numel(h.shape)) wrong.push(`${k}: shape ${fmt(h.shape)} needs ${numel(h.shape)} values, got ${h.data.length}`);
    }
    if (wrong.length || (strict && (missing.length || unexpected.length))) {
      const lines = [`${source}: state dict does not match the model`];
      if (strict && missing.length) lines.push(`  missing tensors (${missing.length}): ${missing.join(', ')}`);
      if (strict && unexpected.length) lines.push(`  unexpected tensors (${unexpected.length}): ${unexpected.join(', ')}`);
      if (wrong.length) lines.push(`  wrong shape (${wrong.length}):`, ...wrong.map((w) => `    ${w}`));
      throw new StateDictError(lines.join('\n'));
    }
    for (const [k, t] of own) {
      const h = given.get(k);
      if (h) t.write(h.data);
    }
    return { missing, unexpected };
  }

  /** Drop accumulated gradients. */
  zeroGrad(): void {
    for (const p of this.parameters()) { p.tensor.grad?.dispose(); p.tensor.grad = null; }
  }

  /** Free every parameter, gradient and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}

/** A container whose children are named 0, 1, 2, ... (torch.nn.Sequential's naming). */
export class Sequential extends Module {
  constructor(...mods: (Module | null)[]) {
    super();
    // null keeps an index for a parameter-free layer (a ReLU), so later indices match PyTorch's
    mods.forEach((m, i) => { if (m) this.child(String(i), m); });
  }
}
