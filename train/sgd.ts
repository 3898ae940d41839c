// Optimizer state for training: kernels/sgd.ts's fused SGD-momentum (MindSpore Momentum: weight decay
// on every parameter but batch-norm gamma/beta) plus the loss scale, in the form the step needs:
//   hyper [lr, momentum, weightDecay, 1/S]  f32 [4], rewritten by the host before every step
//   scale [S]                               f32 [1], the loss multiplier (train/step.ts: loss·S)
// Fixed scaling (the seed's FixedLossScaleManager(1024, drop_overflow_update=False)): S is constant,
// the update always applies. Dynamic: S lives on the GPU (kernels/sgd.ts DynamicLossScale): a step
// whose gradients hold Inf/NaN is skipped, S halves; after 2000 clean steps S doubles. Either way
// nothing is read back per step, so the whole step can be captured and replayed.
import { Tensor } from '../engine/index.ts';
import { DynamicLossScale, SgdMomentum } from '../kernels/sgd.ts';
import type { HostTensor, Parameter } from '../model/module.ts';

/** Loss-scale state as checkpoints record it. */
export interface LossScaleState { dynamic: boolean; scale: number; goodSteps: number }

export class Sgd {
  readonly hyper: Tensor;
  /** f32 [1]: the loss scale S the loss is multiplied by. */
  readonly scale: Tensor;
  /** True once a step has run (the momenta are then live state: capture after this). */
  stepped = false;
  private readonly opt: SgdMomentum;
  private readonly dyn: DynamicLossScale | null;
  private readonly fixed: number;

  constructor(private readonly params: readonly Parameter[], o: { lossScale: number; dynamic: boolean }) {
    this.opt = new SgdMomentum(params.map((p) => ({ param: p.tensor, decay: p.decay })));
    this.hyper = Tensor.zeros([4]).own();
    this.fixed = o.lossScale;
    this.dyn = o.dynamic ? new DynamicLossScale({ init: o.lossScale }) : null;
    this.scale = this.dyn ? this.dyn.scale : Tensor.from([o.lossScale], [1]).own();
  }

  /** Overflow flag of the last step (dynamic scaling only). */
  get overflow(): Tensor | null { return this.dyn ? this.opt.overflow : null; }

  /** This step's hyper-parameters (host write, ordered before the step's GPU work). */
  setHyper(lr: number, momentum: number, weightDecay: number): void {
    this.hyper.write([lr, momentum, weightDecay, 1 / this.fixed]);
  }

  /** Records the update (and the loss-scale update) for the gradients accumulated by backward. */
  step(): void {
    if (this.dyn) {
      this.opt.step(this.hyper, { skipOnOverflow: true, lossScale: this.dyn.scale });
      this.dyn.update(this.opt.overflow);
    } else {
      this.opt.step(this.hyper);
    }
    this.stepped = true;
  }

  /** Momentum buffers by parameter name (GPU handles, not copies). */
  momenta(): Map<string, Tensor> {
    const v = this.opt.momenta();
    return new Map(this.params.map((p, i) => [p.name, v[i]!]));
  }

  /** Overwrite the momenta from a checkpoint; each must name a parameter (checked by loadCheckpoint). */
  loadMomenta(saved: Map<string, HostTensor>): void {
    const v = this.momenta();
    const missing = [...v.keys()].filter((k) => !saved.has(k));
    if (missing.length) throw new Error(`checkpoint has no momentum for ${missing.length} parameter(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
    for (const [k, t] of v) t.write(saved.get(k)!.data);
    this.stepped = true;
  }

  async lossScaleState(): Promise<LossScaleState> {
    if (!this.dyn) return { dynamic: false, scale: this.fixed, goodSteps: 0 };
    return { dynamic: true, scale: (await this.dyn.scale.read())[0]!, goodSteps: (await this.dyn.good.read())[0]! };
  }

  restoreLossScale(s: LossScaleState): void {
    if (!this.dyn || !s.dynamic) return;
    this.dyn.scale.write([s.scale]);
    this.dyn.good.write([s.goodSteps]);
  }

  dispose(): void {
    this.opt.dispose();
    this.dyn?.dispose();
    if (!this.dyn) this.scale.dispose();
    this.hyper.dispose();
  }
}
