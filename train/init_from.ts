// --init FILE: a new run that starts from a checkpoint's weights (fine-tuning), from either format
// (.safetensors, or a MindSpore .ckpt). The file decides the architecture: its size and group, and its
// stem where it records one, replace the preset's; a flag given explicitly must agree (and --stem gives
// the stem a MindSpore file does not record). Its classes must be the dataset's. Momentum buffers are loaded when the file
// has them all (our training checkpoints; MindSpore's moments.*), else they start at zero. Everything
// else is new: the lr schedule from its warm-up, step 0, a fresh sampler; our training record and a
// MindSpore file's learning_rate and global_step are not used (--resume continues a run instead).
import { applyCheckpoint, type Checkpoint } from '../model/checkpoint.ts';
import { readCheckpoint } from './checkpoint_io.ts';
import { FlagError } from './flags.ts';
import type { Session } from './session.ts';
import type { TrainConfig } from './config.ts';

export interface Init {
  file: string;
  checkpoint: Checkpoint;
  /** The run's configuration with the file's architecture. */
  config: TrainConfig;
}

/** The checkpoint --init names and the configuration it implies; null without --init. */
export async function readInit(cfg: TrainConfig, explicit: ReadonlySet<string>): Promise<Init | null> {
  if (!cfg.init) return null;
  const file = cfg.init;
  // size and group are inferred, not taken as hints, so that a contradicting flag is named below
  const checkpoint = await readCheckpoint(file, { mindspore: explicit.has('stem') ? { stem: cfg.stem } : {} });
  const c = checkpoint.config;
  const clash = ([['model-size', cfg.modelSize, c.size], ['group', cfg.group, c.group], ['stem', cfg.stem, c.stem]] as const)
    .filter(([flag, mine, theirs]) => explicit.has(flag) && mine !== theirs);
  if (clash.length) {
    throw new FlagError(`--init: ${file} is a ${c.size} g=${c.group} ${c.stem}-stem model; ${clash.map(([f, mine]) => `--${f} ${mine}`).join(' and ')} ` +
      `disagree${clash.length === 1 ? 's' : ''} (drop ${clash.length === 1 ? 'it' : 'them'}, or start from a checkpoint of that architecture)`);
  }
  return { file, checkpoint, config: { ...cfg, modelSize: c.size, group: c.group, stem: c.stem } };
}

/** Put the checkpoint's weights (and momenta, if any) into a new session's model and optimizer. */
export function applyInit(s: Session, init: Init): void {
  const { file, checkpoint } = init;
  for (const note of checkpoint.notes) s.log(`note: ${note}`);
  applyCheckpoint(checkpoint, file, s.model);
  const momenta = checkpoint.momenta.size > 0;
  if (momenta) {
    try { s.opt.loadMomenta(checkpoint.momenta); } catch (e) { throw new Error(`--init ${file}: ${(e as Error).message}`); }
  }
  const c = checkpoint.config;
  s.log(`initialised from ${file} (${c.size} g=${c.group}, ${c.stem} stem): weights${momenta ? ' and momentum buffers' : '; momentum buffers start at zero (the file has none)'}; ` +
    'a new run otherwise (lr schedule from its start, step 0)');
}
