// Browser entry (`shufflenet-webgpu/web`, bundled by `npm run build:web`): the engine (device, tensors,
// autograd, replay), the op table, and ShuffleNetV1 with its checkpoints as bytes. Everything here is
// platform-neutral (tests/web/neutral_imports.test.ts): initDevice() finds a page's navigator.gpu by
// itself (Node: Dawn's, or initDevice({ gpu })); checkpoints are decoded from and encoded to bytes
// (fetch, a file picker, a download). The Node entry, index.ts, is this plus file I/O.
export * from './engine/index.ts';
export * from './kernels/index.ts';
export { Sgd, type SgdParam, type SgdOptions } from './train/sgd.ts';
export { trainTransforms, testTransforms, testParams } from './train/data/transforms.ts';
export { ShuffleNetV1, type ShuffleNetOptions } from './model/shufflenet.ts';
export { SIZES, GROUPS, STEMS, type ModelSize, type Group, type Stem, type ShuffleNetConfig, type ModelConfig } from './model/architecture.ts';
export { Module, Sequential, StateDictError, type Parameter, type NamedBuffer, type HostTensor } from './model/module.ts';
export { Conv2d, BatchNorm2d, Linear } from './model/layers.ts';
export { summary, formatSummary, type Summary, type SummaryRow } from './model/summary.ts';
export {
  decodeCheckpoint, encodeCheckpoint, encodeCheckpointAs, applyCheckpoint, isMindsporePath, CheckpointError,
  type Checkpoint, type MindsporeHints, type ReadOptions, type SaveOptions,
} from './model/checkpoint.ts';
export { decodeMindsporeCkpt, encodeMindsporeCkpt, MindsporeCkptError, type MsEntry, type MsFile } from './model/mindspore_ckpt.ts';
export { foldBatchNorm, FoldedShuffleNetV1 } from './model/fold_bn.ts';
export { exportOnnx, OnnxExportError, ONNX_OPSET, type OnnxExportOptions } from './model/onnx_export.ts';
export { encodeSafetensors, decodeSafetensors, SafetensorsError } from './model/safetensors.ts';
