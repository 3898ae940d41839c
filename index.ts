// Package entry: the engine (device, tensors, autograd, replay), the op table, and ShuffleNetV1 with
// its checkpoints, for code that embeds the engine as a small deep-learning runtime. It is the browser
// entry (index.web.ts, all platform-neutral) plus checkpoint files on disk (Node only).
export * from './index.web.ts';
export {
  saveCheckpoint, readCheckpoint, loadCheckpoint, writeCheckpointFile, readSafetensorsFile, writeSafetensorsFile,
  readMindsporeCkptFile, writeMindsporeCkptFile, writeFileAtomic,
} from './train/checkpoint_io.ts';
