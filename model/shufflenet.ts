// ShuffleNetV1 (Zhang et al. 2017; Megvii's design as the seed's MindSpore tutorial writes it) on the
// engine's ops. The architecture (channel tables, unit list, config checks) is in architecture.ts;
// this file holds the parameters and the forward pass. Semantics follow the seed, not Megvii's
// PyTorch code: the channel shuffle sits between branch_main_1 and the depthwise conv, the pools use
// MindSpore's 'same' padding, and a stride-2 unit applies ReLU to the whole concatenation.
//
// Fusions (each is a kernel option, not a separate pass): BN + ReLU; the channel shuffle is read
// through the depthwise conv's input indexing (`shuffleGroups`); a stride-1 unit's last BN adds the
// residual and applies the ReLU in its own pass (relu(bn3(x3) + x)); the concat + ReLU is one op. Each unit runs inside scope(), so its intermediates are released as
// soon as it returns (autograd keeps its own handles on what backward needs).
import { OpError, Rng, Tensor, fmt, scope } from '../engine/index.ts';
import { channelShuffle } from '../kernels/channel_shuffle.ts';
import { maxPool2d } from '../kernels/max_pool.ts';
import { avgPool2d } from '../kernels/avg_pool.ts';
import { globalAvgPool } from '../kernels/global_avg_pool.ts';
import { concatRelu } from '../kernels/concat.ts';
import { Module, Sequential } from './module.ts';
import { BatchNorm2d, Conv2d, Linear } from './layers.ts';
import { channelsFor, checkImageSize, resolveConfig, unitPlans, type ModelConfig, type ShuffleNetConfig, type UnitPlan } from './architecture.ts';

export interface ShuffleNetOptions extends ShuffleNetConfig {
  /** Read the channel shuffle through the depthwise conv (default) or run it as its own op (for tests). */
  fuseShuffle?: boolean;
}

/** One ShuffleNet unit: `features.N` with children branch_main_1 (conv, BN) and branch_main_2 (dw conv, BN, conv, BN). */
export class ShuffleUnit extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly dw: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn3: BatchNorm2d;

  constructor(readonly plan: UnitPlan, rng: Rng, readonly fuseShuffle = true) {
    super();
    const { inC, mid, mainOut, stride, groups1, group } = plan;
    this.conv1 = new Conv2d(inC, mid, 1, { groups: groups1 }, rng);
    this.bn1 = new BatchNorm2d(mid);
    this.dw = new Conv2d(mid, mid, 3, { stride, padding: 1, groups: mid }, rng);
    this.bn2 = new BatchNorm2d(mid);
    this.conv2 = new Conv2d(mid, mainOut, 1, { groups: group }, rng);
    this.bn3 = new BatchNorm2d(mainOut);
    this.child('branch_main_1', new Sequential(this.conv1, this.bn1));
    this.child('branch_main_2', new Sequential(this.dw, this.bn2, this.conv2, this.bn3));
  }

  forward(x: Tensor): Tensor {
    const G = this.plan.group;
    return scope(() => {
      const m1 = this.bn1.forward(this.conv1.forward(x), true);
      const d = G === 1 ? this.dw.forward(m1) : this.fuseShuffle ? this.dw.forward(m1, G) : this.dw.forward(channelShuffle(m1, G));
      const c2 = this.conv2.forward(this.bn2.forward(d));
      return this.plan.stride === 1 ? this.bn3.forward(c2, true, x) : concatRelu(avgPool2d(x), this.bn3.forward(c2));
    });
  }
}

/** ShuffleNetV1({ size, group, classes, imageSize, stem, seed }): state_dict names as the PyTorch twin's. */
export class ShuffleNetV1 extends Module {
  readonly config: ModelConfig;
  readonly stemConv: Conv2d;
  readonly stemBn: BatchNorm2d;
  readonly units: ShuffleUnit[];
  readonly classifier: Linear;

  constructor(opts: ShuffleNetOptions = {}) {
    super();
    this.config = resolveConfig(opts);
    const { size, group, classes, stem } = this.config;
    const rng = new Rng(opts.seed ?? 0);
    const [c1, , , c4] = channelsFor(size, group);
    this.stemConv = new Conv2d(3, c1, 3, { stride: stem === 'imagenet' ? 2 : 1, padding: 1 }, rng);
    this.stemBn = new BatchNorm2d(c1);
    this.child('first_conv', new Sequential(this.stemConv, this.stemBn));
    this.units = unitPlans(size, group).map((p) => new ShuffleUnit(p, rng, opts.fuseShuffle ?? true));
    this.child('features', new Sequential(...this.units));
    this.classifier = this.child('classifier', new Linear(c4, classes, rng));
  }

  /** x [N, 3, H, W] (f32 or f16, H and W >= 32) -> logits [N, classes] in x's dtype. */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== 3) throw new OpError('ShuffleNetV1', `x must be [N, 3, H, W], got ${fmt(x.shape)}`);
    checkImageSize(x.shape[2], x.shape[3], `input ${fmt(x.shape)}`);
    let h = scope(() => {
      const s = this.stemBn.forward(this.stemConv.forward(x), true);
      return this.config.stem === 'imagenet' ? maxPool2d(s) : s;
    });
    for (const u of this.units) {
      const next = u.forward(h);
      h.dispose();
      h = next;
    }
    const logits = scope(() => this.classifier.forward(globalAvgPool(h)));
    h.dispose();
    return logits;
  }
}
