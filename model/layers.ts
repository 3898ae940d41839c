// The layers ShuffleNetV1 is built from: each holds its parameters (PyTorch names: weight, bias,
// running_mean, running_var) and calls one kernel op. Weights and statistics are f32; activations
// may be f32 or f16 and the output has the input's dtype (the kernels' rule).
import { Rng, Tensor } from '../engine/index.ts';
import { conv2d } from '../kernels/conv2d.ts';
import { batchNorm } from '../kernels/batch_norm.ts';
import { linear } from '../kernels/matmul.ts';
import { Module } from './module.ts';
import { linearDefault, xavierUniform } from './init.ts';

export interface ConvOptions { stride?: number; padding?: number; groups?: number }

/** Conv without bias (every ShuffleNet conv is followed by batch norm): weight [out, in/groups, k, k]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly stride: number;
  readonly padding: number;
  readonly groups: number;

  constructor(readonly inC: number, readonly outC: number, readonly k: number, opts: ConvOptions, rng: Rng) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.groups = opts.groups ?? 1;
    const shape = [outC, inC / this.groups, k, k];
    this.weight = this.param('weight', shape, xavierUniform(shape, rng));
  }

  /** `shuffleGroups`: read the input through a channel shuffle with that many groups (fused, no copy). */
  forward(x: Tensor, shuffleGroups?: number): Tensor {
    return conv2d(x, this.weight, { stride: this.stride, padding: this.padding, groups: this.groups, ...(shuffleGroups ? { shuffleGroups } : {}) });
  }
}

/** Batch norm over NCHW channels; training mode uses batch statistics and updates the running ones in place. */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(readonly C: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    this.weight = this.param('weight', [C], new Float32Array(C).fill(1), false);
    this.bias = this.param('bias', [C], new Float32Array(C), false);
    this.runningMean = this.buffer('running_mean', [C], new Float32Array(C));
    this.runningVar = this.buffer('running_var', [C], new Float32Array(C).fill(1));
  }

  /** `relu`: apply ReLU to the output in the same pass; `residual` (x's shape): add it before the ReLU. */
  forward(x: Tensor, relu = false, residual?: Tensor): Tensor {
    const o = { training: this.training, momentum: this.momentum, eps: this.eps, relu };
    return residual ? batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, o, residual) : batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, o);
  }
}

/** Dense layer y = x·wᵀ + b with weight [out, in] (PyTorch's layout). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly inF: number, readonly outF: number, rng: Rng) {
    super();
    const { w, b } = linearDefault(outF, inF, rng);
    this.weight = this.param('weight', [outF, inF], w);
    this.bias = this.param('bias', [outF], b);
  }

  forward(x: Tensor): Tensor { return linear(x, this.weight, this.bias); }
}
