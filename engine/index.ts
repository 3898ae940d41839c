// The engine's public surface.
export { initDevice, device, deviceInfo, describeDevice, type DeviceInfo, type Backend, type InitOptions } from './device.ts';
export { type DType, DTYPES, storageBytes, toHalfBits, fromHalfBits, roundToHalf } from './dtype.ts';
export { OpError, GpuError, expect, type Expect } from './errors.ts';
export { type Shape, numel, fmt, sameShape, strides, convOut, samePadding } from './shape.ts';
export { Tensor, type TensorOptions } from './tensor.ts';
export { scope, scopeAsync, currentScope } from './scope.ts';
export { poolStats, resetPeak as resetPoolPeak, trim as trimPool, sizeClass, type PoolStats } from './pool.ts';
export { uniforms, type Uniforms, type UniformType } from './uniforms.ts';
export { launch, grid1d, bindingLimit, setBindingLimit, pipeline, pipelineCount, pipelineCosts, withOp, type PipelineCost, type Kernel, type Binding, type LaunchArgs } from './launch.ts';
export { flush, sync, counters, hasPendingWork, throwGpuErrors, writeBuffer } from './queue.ts';
export { defineOp, type OpDef } from './op.ts';
export { backward, noGrad, gradEnabled, clearTape, tapeLength, setGradientSum } from './autograd.ts';
export { capture, CapturedStep } from './replay.ts';
export { deviceTimes, hasTimestamps } from './timestamps.ts';
export { Rng, type RngState } from './rng.ts';
