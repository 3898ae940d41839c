// The op table: every differentiable op the engine ships, one kernel file each (kernel specs +
// launchers + autograd rule), and the spec API for new kernels. Launchers without autograd (no checks,
// no tape) stay in their files for benchmarks and fused paths.
export { defineKernel, input, output, f16Storage, setF16Storage, subgroupsEnabled, setSubgroups, type KernelSpec, type BufferDecl, type DefinedKernel, type Dispatch } from './kernel.ts';
export { reductionShape, setReductionShape, REDUCTION_SHAPES, type ReductionShape } from './reduction_shape.ts';
export { WG, builtins, flatIndex, pairs, storePair } from './wgsl.ts';
export { add, mul, scale, relu, addRelu } from './elementwise.ts';
export { sum, mean } from './reduce.ts';
export { matmul, linear } from './matmul.ts';
export { permute, transpose, reshape } from './transpose.ts';
export { cast } from './cast.ts';
export { conv2d, conv2dVariant, type Conv2dOptions } from './conv2d.ts';
export { pointwiseConv } from './conv2d_pointwise.ts';
export { channelShuffle } from './channel_shuffle.ts';
export { maxPool2d } from './max_pool.ts';
export { avgPool2d } from './avg_pool.ts';
export { type PoolOptions } from './pool2d.ts';
export { globalAvgPool } from './global_avg_pool.ts';
export { concat, concatRelu } from './concat.ts';
export { batchNorm } from './batch_norm.ts';
export { softmaxCrossEntropy, topkCorrect } from './softmax_xent.ts';
export { augmentBatch, uploadBytes, byteTensor } from './augment.ts';
