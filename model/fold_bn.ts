// Batch-norm folding for inference. In eval mode BN is a per-channel affine map with
//   s = gamma / sqrt(running_var + eps),  BN(z) = s·z + (beta - running_mean·s),
// so a conv followed by BN equals the conv with weight w·s (per output channel) plus a bias
// b = beta - mean·s. Our convs have no bias: the 1x1 convs add it in their GEMM's epilogue (ReLU fused
// where the BN had it), the stem with kernels/bias_add.ts. One more fold per unit: the depthwise conv's bias b2 is a per-channel
// constant that the next (linear) 1x1 conv maps to a constant, so it moves into that conv's bias,
//   b3' = beta3 - mean3·s3 + Σ_i (w3·s3)[o, i] · b2[input channel of (o, i)],
// and the depthwise conv needs no bias pass (this is also why grad(branch_main_2.1.bias) is 0 in train
// mode). The result is an eval-only model: stem conv+bias+ReLU, per unit conv+bias+ReLU, dw conv (shuffle
// fused), conv+bias, join; same logits as the unfolded model in eval mode up to rounding.
import { OpError, Tensor, fmt, noGrad, scope } from '../engine/index.ts';
import { conv2d } from '../kernels/conv2d.ts';
import { pointwiseForward } from '../kernels/conv2d_pointwise.ts';
import { maxPool2d } from '../kernels/max_pool.ts';
import { avgPool2d } from '../kernels/avg_pool.ts';
import { globalAvgPool } from '../kernels/global_avg_pool.ts';
import { concatRelu } from '../kernels/concat.ts';
import { addRelu } from '../kernels/elementwise.ts';
import { linear } from '../kernels/matmul.ts';
import { biasAdd } from '../kernels/bias_add.ts';
import { checkImageSize, type ModelConfig, type UnitPlan } from './architecture.ts';
import { foldConvBnHost, pushBiasThroughGroupedConv } from './fold_math.ts';
import type { BatchNorm2d, Conv2d } from './layers.ts';
import type { ShuffleNetV1 } from './shufflenet.ts';

interface Folded { w: Float64Array; b: Float64Array; shape: readonly number[] }

async function foldConvBn(conv: Conv2d, bn: BatchNorm2d): Promise<Folded> {
  const [w, gamma, beta, mean, vr] = await Promise.all([conv.weight, bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((t) => t.read()));
  return { ...foldConvBnHost(w, conv.outC, { gamma, beta, mean, var: vr, eps: bn.eps }), shape: conv.weight.shape };
}

const upload = (data: ArrayLike<number>, shape: readonly number[]) => Tensor.from(data, shape, 'f32').own();

class FoldedUnit {
  constructor(readonly plan: UnitPlan, readonly w1: Tensor, readonly b1: Tensor, readonly w2: Tensor, readonly w3: Tensor, readonly b3: Tensor) {}

  forward(x: Tensor): Tensor {
    const { groups1, mid, stride, group } = this.plan;
    return scope(() => {
      // the 1x1 convs add their bias (and ReLU) in the GEMM's epilogue: no pass of their own
      const a = pointwiseForward(x, this.w1, groups1, { bias: this.b1, relu: true });
      const d = conv2d(a, this.w2, { stride, padding: 1, groups: mid, ...(group > 1 ? { shuffleGroups: group } : {}) });
      const m = pointwiseForward(d, this.w3, group, { bias: this.b3 });
      return stride === 1 ? addRelu(x, m) : concatRelu(avgPool2d(x), m);
    });
  }

  dispose(): void { for (const t of [this.w1, this.b1, this.w2, this.w3, this.b3]) t.dispose(); }
}

/** An eval-only ShuffleNetV1 with every batch norm folded into the conv before it. */
export class FoldedShuffleNetV1 {
  constructor(readonly config: ModelConfig, private readonly stem: { w: Tensor; b: Tensor }, private readonly units: FoldedUnit[],
    private readonly head: { w: Tensor; b: Tensor }) {}

  /** x [N, 3, H, W] -> logits [N, classes]; always inference (no autograd). */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== 3) throw new OpError('FoldedShuffleNetV1', `x must be [N, 3, H, W], got ${fmt(x.shape)}`);
    checkImageSize(x.shape[2], x.shape[3], `input ${fmt(x.shape)}`);
    return noGrad(() => {
      let h = scope(() => {
        const s = biasAdd(conv2d(x, this.stem.w, { stride: this.config.stem === 'imagenet' ? 2 : 1, padding: 1 }), this.stem.b, true);
        return this.config.stem === 'imagenet' ? maxPool2d(s) : s;
      });
      for (const u of this.units) {
        const next = u.forward(h);
        h.dispose();
        h = next;
      }
      const logits = scope(() => linear(globalAvgPool(h), this.head.w, this.head.b));
      h.dispose();
      return logits;
    });
  }

  dispose(): void {
    for (const u of this.units) u.dispose();
    for (const t of [this.stem.w, this.stem.b, this.head.w, this.head.b]) t.dispose();
  }
}

/** Fold `model`'s batch norms (its current running statistics) into new eval-only weights; `model` is unchanged. */
export async function foldBatchNorm(model: ShuffleNetV1): Promise<FoldedShuffleNetV1> {
  const s = await foldConvBn(model.stemConv, model.stemBn);
  const units: FoldedUnit[] = [];
  for (const u of model.units) {
    const { group, mid, mainOut } = u.plan;
    const f1 = await foldConvBn(u.conv1, u.bn1);
    const f2 = await foldConvBn(u.dw, u.bn2);
    const f3 = await foldConvBn(u.conv2, u.bn3);
    pushBiasThroughGroupedConv(f3.w, f3.b, f2.b, group, mid, mainOut);
    units.push(new FoldedUnit(u.plan, upload(f1.w, f1.shape), upload(f1.b, [mid]), upload(f2.w, f2.shape), upload(f3.w, f3.shape), upload(f3.b, [mainOut])));
  }
  const [hw, hb] = await Promise.all([model.classifier.weight.read(), model.classifier.bias.read()]);
  return new FoldedShuffleNetV1(model.config, { w: upload(s.w, s.shape), b: upload(s.b, [s.b.length]) }, units,
    { w: upload(hw, model.classifier.weight.shape), b: upload(hb, model.classifier.bias.shape) });
}
