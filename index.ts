// Package entry: the engine (device, tensors, autograd, replay), the op table, and ShuffleNetV1 with
// its checkpoints, for code that embeds the engine as a small deep-learning runtime.
export * from './engine/index.ts';
export * from './kernels/index.ts';
export { Sgd, type SgdParam, type SgdOptions } from './train/sgd.ts';
export { trainTransforms, testTransforms, testParams } from './train/data/transforms.ts';
export { ShuffleNetV1, type ShuffleNetOptions } from './model/shufflenet.ts';
export { SIZES, GROUPS, STEMS, type ModelSize, type Group, type Stem, type ShuffleNetConfig, type ModelConfig } from './model/architecture.ts';
export { Module, Sequential, StateDictError, type Parameter, type NamedBuffer, type HostTensor } from './model/module.ts';
export { Conv2d, BatchNorm2d, Linear } from './model/layers.ts';
export { summary, formatSummary, type Summary, type SummaryRow } from './model/summary.ts';
export { saveCheckpoint, readCheckpoint, loadCheckpoint, writeCheckpointFile, isMindsporePath, CheckpointError, type Checkpoint, type MindsporeHints } from './model/checkpoint.ts';
export { decodeMindsporeCkpt, encodeMindsporeCkpt, readMindsporeCkptFile, writeMindsporeCkptFile, MindsporeCkptError, type MsEntry, type MsFile } from './model/mindspore_ckpt.ts';
export { foldBatchNorm, FoldedShuffleNetV1 } from './model/fold_bn.ts';
export { exportOnnx, OnnxExportError, ONNX_OPSET, type OnnxExportOptions } from './model/onnx_export.ts';
export { encodeSafetensors, decodeSafetensors, readSafetensorsFile, writeSafetensorsFile, SafetensorsError } from './model/safetensors.ts';
