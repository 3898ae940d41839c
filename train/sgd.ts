// The optimizer: SGD with momentum (MindSpore Momentum: weight decay on every parameter but batch-norm
// gamma/beta) with its loss scale, one class owning all of its GPU state:
//   momenta                                 f32, one per parameter, zeros at first
//   hyper [lr, momentum, weightDecay, 1/S]  f32 [4], rewritten by the host before every step (setHyper)
//   scale [S]                               f32 [1], the loss multiplier (train/step.ts: loss·S)
//   overflow, good                          f32 [1] each, dynamic loss scaling only
// Fixed scaling (the seed's FixedLossScaleManager(1024, drop_overflow_update=False)): S is constant,
// the update always applies. Dynamic: S lives on the GPU; a step whose gradients hold Inf/NaN is
// skipped and S halves; after 2000 clean steps S doubles. Either way nothing is read back per step,
// so the whole step can be captured and replayed. The kernels are in kernels/sgd.ts.
import { OpError, Tensor, fmt } from '../engine/index.ts';
import { LOSS_SCALE_DEFAULTS, lossScaleUpdate, sgdCheck, sgdResetFlag, sgdUpdate, type LossScaleConfig, type SgdItem } from '../kernels/sgd.ts';
import type { HostTensor } from '../model/module.ts';

/** A parameter and whether weight decay applies to it (model.parameters() gives these, named). */
export interface SgdParam { tensor: Tensor; decay: boolean; name?: string }

export interface SgdOptions {
  /** The loss scale S the loss is multiplied by: fixed (default 1), or the initial one when dynamic (default 2^16). */
  lossScale?: number;
  /** Dynamic loss scaling: true for the defaults (kernels/sgd.ts LOSS_SCALE_DEFAULTS), or some of its constants. */
  dynamic?: boolean | Partial<LossScaleConfig>;
}

/** Loss-scale state as checkpoints record it. */
export interface LossScaleState { dynamic: boolean; scale: number; goodSteps: number }

/**
 * SGD with momentum over a fixed parameter list. Parameters without a gradient are skipped (as
 * PyTorch does). step() reads each parameter's .grad; zeroGrad() disposes them afterwards, since
 * autograd accumulates into an existing .grad.
 */
export class Sgd {
  /** f32 [4]: [lr, momentum, weightDecay, 1/S], written by setHyper. */
  readonly hyper: Tensor;
  /** f32 [1]: the loss scale S the loss is multiplied by. */
  readonly scale: Tensor;
  /** f32 [1], dynamic scaling only: 1 if the last step found an Inf or NaN gradient (and skipped), else 0. */
  readonly overflow: Tensor | null;
  /** True once a step has run (the momenta are then live state: capture after this). */
  stepped = false;
  private readonly v: Tensor[];
  private readonly order: number[];
  private readonly fixed: number;
  private readonly dynamic: LossScaleConfig | null;
  /** f32 [1], dynamic scaling only: clean steps since the scale last changed. */
  private readonly good: Tensor | null;

  constructor(private readonly params: readonly SgdParam[], o: SgdOptions = {}) {
    params.forEach(({ tensor }, i) => {
      if (tensor.dtype !== 'f32') throw new OpError('sgd', `parameter ${i} must be f32, got ${tensor.dtype} ${fmt(tensor.shape)}`);
    });
    this.v = params.map(({ tensor }) => Tensor.zeros(tensor.shape, 'f32').own());
    // largest first, so each dispatch's group has parameters of similar size
    this.order = params.map((_, i) => i).sort((a, b) => params[b]!.tensor.size - params[a]!.tensor.size);
    this.fixed = o.lossScale ?? (o.dynamic ? 2 ** 16 : 1);
    this.dynamic = o.dynamic ? { ...LOSS_SCALE_DEFAULTS, ...(o.dynamic === true ? {} : o.dynamic) } : null;
    this.hyper = Tensor.zeros([4]).own();
    this.scale = Tensor.from([this.fixed], [1]).own();
    this.overflow = this.dynamic ? Tensor.zeros([1]).own() : null;
    this.good = this.dynamic ? Tensor.zeros([1]).own() : null;
  }

  /** This step's hyper-parameters (a host write, ordered before the step's GPU work). */
  setHyper(lr: number, momentum: number, weightDecay: number): void {
    this.hyper.write([lr, momentum, weightDecay, 1 / this.fixed]);
  }

  /**
   * Records the update of every parameter that has a gradient (and, when dynamic, the overflow check
   * and the loss-scale update). `hyper` is this optimizer's own unless the caller keeps one: f32
   * [lr, momentum, weightDecay, invLossScale], whose invLossScale is ignored under dynamic scaling.
   */
  step(hyper: Tensor = this.hyper): void {
    if (hyper.dtype !== 'f32' || hyper.size !== 4) throw new OpError('sgd', `hyper must be f32 [4] (lr, momentum, weightDecay, invLossScale), got ${hyper.dtype} ${fmt(hyper.shape)}`);
    const items: SgdItem[] = [];
    for (const i of this.order) {
      const { tensor, decay } = this.params[i]!;
      const g = tensor.grad;
      if (!g) continue;
      if (g.dtype !== 'f32' || g.size !== tensor.size) throw new OpError('sgd', `gradient of parameter ${i} must be f32 ${fmt(tensor.shape)}, got ${g.dtype} ${fmt(g.shape)}`);
      items.push({ w: tensor, g, v: this.v[i]!, decay });
    }
    this.stepped = true;
    if (!items.length) return;
    if (this.dynamic) {
      sgdResetFlag(this.overflow!);
      sgdCheck(items.map((it) => it.g), hyper, this.overflow!, this.scale);
      sgdUpdate(items, hyper, { flag: this.overflow, lossScale: this.scale });
      lossScaleUpdate(this.scale, this.good!, this.overflow!, this.dynamic);
    } else {
      sgdUpdate(items, hyper);
    }
  }

  /** Dispose every parameter's gradient, so the next backward starts from none. */
  zeroGrad(): void {
    for (const { tensor } of this.params) { tensor.grad?.dispose(); tensor.grad = null; }
  }

  /** Momentum buffers by parameter name (its index for unnamed ones), in parameter order; GPU handles, not copies. */
  momenta(): Map<string, Tensor> {
    return new Map(this.params.map((p, i) => [p.name ?? String(i), this.v[i]!]));
  }

  /** Overwrite the momenta from a checkpoint; each must name a parameter (checked by loadCheckpoint). */
  loadMomenta(saved: Map<string, HostTensor>): void {
    const v = this.momenta();
    const missing = [...v.keys()].filter((k) => !saved.has(k));
    if (missing.length) throw new Error(`checkpoint has no momentum for ${missing.length} parameter(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
    for (const [k, t] of v) t.write(saved.get(k)!.data);
    this.stepped = true;
  }

  /** The loss scale and clean-step count (reads the GPU when dynamic). */
  async lossScaleState(): Promise<LossScaleState> {
    if (!this.good) return { dynamic: false, scale: this.fixed, goodSteps: 0 };
    return { dynamic: true, scale: (await this.scale.read())[0]!, goodSteps: (await this.good.read())[0]! };
  }

  /** Continue a dynamic scale from a checkpoint (a fixed scale is the configuration's). */
  restoreLossScale(s: LossScaleState): void {
    if (!this.good || !s.dynamic) return;
    this.scale.write([s.scale]);
    this.good.write([s.goodSteps]);
  }

  dispose(): void {
    for (const t of [...this.v, this.hyper, this.scale, this.overflow, this.good]) t?.dispose();
  }
}
