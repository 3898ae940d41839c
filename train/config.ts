// Training configuration: every hyper-parameter is a flag; the flag defaults (the seed preset)
// reproduce the seed tutorial as its text describes it (ShuffleNetV1 2.0x g=3, CIFAR-10 at 224x224,
// batch 128, 250 epochs, 4 warm-up epochs then cosine 0.05 -> 0.0005, Momentum 0.9, weight decay
// 4e-5, label smoothing 0.1, fp16 with a fixed loss scale of 1024). Presets fill in groups of values;
// flags given explicitly always win, whatever their position relative to --preset. `--preset auto`
// (the default) is seed on a GPU adapter and fast on a CPU one, once the adapter is known.
import { GROUPS, SIZES, STEMS, type Group, type ModelSize, type Stem } from '../model/architecture.ts';
import { FlagError, formatHelp, parseFlags, type FlagTable, type FlagValues } from './flags.ts';
import { KEEP_PERIODIC } from './checkpoint_files.ts';
import { parseCheckpointEvery } from './periodic_checkpoint.ts';
import { microBatchError } from './micro_batch.ts';

const listed = (xs: readonly unknown[]) => `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}`;

/** --tune-seconds' default: 60, or $WG_TUNE_SECONDS (the test suite sets 0: its runs tune only when a test asks). */
const TUNE_SECONDS = ((v) => (v !== undefined && Number.isFinite(Number(v)) && Number(v) >= 0 ? Number(v) : 60))(process.env.WG_TUNE_SECONDS);

export const TRAIN_FLAGS = {
  dataset: { type: 'choice', choices: ['cifar10', 'fashion-mnist'], default: 'cifar10', help: 'training data' },
  'data-dir': { type: 'string', default: null, metavar: 'DIR', help: 'dataset directory (default: ./dataset for cifar10, /usr/share/datasets/fashion-mnist for fashion-mnist)' },
  'download-url': { type: 'string', default: null, metavar: 'URL', help: 'CIFAR-10 archive URL (default: the official cifar-10-binary.tar.gz)' },
  preset: { type: 'choice', choices: ['auto', 'seed', 'fast', 'smoke'], default: 'auto', help: 'auto: seed on a GPU adapter, fast on a CPU adapter; seed: the tutorial; fast: 0.5x g=3 at 32x32, cifar stem (CPU adapters); smoke: a few steps' },
  epochs: { type: 'int', min: 1, default: 250, help: 'epochs (the lr schedule spans them all)' },
  'max-steps': { type: 'int', min: 0, default: 0, help: 'stop after this many steps in total (0: no limit)' },
  'batch-size': { type: 'int', min: 1, default: 128, help: 'images per step (the last partial batch is dropped)' },
  'micro-batch': { type: 'int', min: 0, default: 0, metavar: 'M', help: "images per forward/backward pass: a step's --batch-size images run as batch/M passes whose gradients add up to one update (batch-norm statistics per pass); M must divide the batch. 0: the whole batch, or the largest divisor whose activations fit the adapter's largest buffer" },
  'model-size': { type: 'choice', choices: SIZES, default: '2.0x', help: 'ShuffleNetV1 width' },
  group: { type: 'int', min: Math.min(...GROUPS), max: Math.max(...GROUPS), default: 3, help: `group count of the pointwise convolutions: ${listed(GROUPS)}` },
  'image-size': { type: 'int', min: 32, max: 1024, default: 224, help: 'model input size (images are resized on the GPU)' },
  stem: { type: 'choice', choices: STEMS, default: 'imagenet', help: 'imagenet: conv/2 + max pool; cifar: conv/1, no pool' },
  precision: { type: 'choice', choices: ['auto', 'fp16', 'fp32'], default: 'auto', help: 'activations; auto = fp16 on a GPU with shader-f16, fp32 elsewhere (packed halves without shader-f16, and no faster on a CPU adapter)' },
  lr: { type: 'number', min: 0, exclusiveMin: true, default: 0.05, help: 'base learning rate (end of warm-up)' },
  'min-lr': { type: 'number', min: 0, default: 0.0005, help: 'learning rate at the end of the cosine' },
  'warmup-epochs': { type: 'number', min: 0, default: 4, help: 'linear warm-up epochs' },
  'lr-granularity': { type: 'choice', choices: ['step', 'epoch'], default: 'step', help: "lr updated every step, or per epoch like MindSpore's cosine_decay_lr" },
  momentum: { type: 'number', min: 0, max: 1, default: 0.9, help: 'SGD momentum' },
  'weight-decay': { type: 'number', min: 0, default: 4e-5, help: 'L2 weight decay (not on batch-norm gamma/beta)' },
  'label-smoothing': { type: 'number', min: 0, max: 1, default: 0.1, help: 'cross-entropy label smoothing' },
  'loss-scale': { type: 'number', min: 0, exclusiveMin: true, default: 1024, help: 'loss scale (fixed, or the initial one with --dynamic-loss-scale)' },
  'dynamic-loss-scale': { type: 'bool', default: false, help: 'halve the scale and skip the step on Inf/NaN gradients, double it after --loss-scale-window clean steps' },
  'loss-scale-window': { type: 'int', min: 1, default: 2000, help: "with --dynamic-loss-scale: clean steps in a row before the scale doubles (PyTorch GradScaler's growth_interval, MindSpore's scale_window); an error without it" },
  flip: { type: 'bool', default: true, help: 'random horizontal flip (as the original notebook)' },
  seed: { type: 'int', min: 0, max: 2 ** 32 - 1, default: 1, help: 'seed of weights, shuffling and augmentation' },
  'out-dir': { type: 'string', default: 'runs/shufflenet', metavar: 'DIR', help: 'checkpoints, metrics.jsonl and training.png' },
  resume: { type: 'optional', default: null, metavar: 'FILE', help: 'continue from FILE, or from the latest checkpoint in --out-dir' },
  init: { type: 'string', default: null, metavar: 'FILE', help: "fine-tune: start from FILE's weights (.safetensors or MindSpore .ckpt; its size and group replace the preset's) and its momenta if it has them; the lr schedule and step count start afresh" },
  overwrite: { type: 'bool', default: false, help: "start over in an --out-dir that holds another run's checkpoints or metrics (deletes them)" },
  'keep-checkpoints': { type: 'int', min: 1, default: 5, help: 'checkpoints kept (the oldest are deleted)' },
  'checkpoint-every': { type: 'string', default: '30m', metavar: 'N|Nm', help: `also save a resumable checkpoint every N steps or N minutes (Nm) inside an epoch, the newest ${KEEP_PERIODIC} kept; 0: never` },
  'log-every': { type: 'int', min: 1, default: 20, help: 'steps between loss read-backs (each one waits for the GPU)' },
  'eval-every': { type: 'int', min: 0, default: 1, help: 'epochs between test-set evaluations (0: never)' },
  'tune-seconds': { type: 'number', min: 0, default: TUNE_SECONDS, metavar: 'S', help: `after the first step, time kernel variants for the problems without a cached choice for up to S seconds and keep the fastest (the tuning cache; npm run tune does them all ahead). 0: never. Default ${TUNE_SECONDS}${process.env.WG_TUNE_SECONDS ? ' (from $WG_TUNE_SECONDS)' : ', or $WG_TUNE_SECONDS'}` },
} as const satisfies FlagTable;

export type TrainFlags = FlagValues<typeof TRAIN_FLAGS>;
type FlagName = keyof typeof TRAIN_FLAGS;
export type DatasetName = (typeof TRAIN_FLAGS)['dataset']['choices'][number];
export type Precision = (typeof TRAIN_FLAGS)['precision']['choices'][number];
export type PresetName = 'seed' | 'fast' | 'smoke';

/** The batch the seed's learning rate is for: the smoke preset scales --lr and --min-lr by batch/128. */
export const LR_BATCH = 128;

export const PRESETS: Record<PresetName, Partial<Record<FlagName, string | number | boolean>>> = {
  seed: {},
  fast: { 'model-size': '0.5x', group: 3, 'image-size': 32, stem: 'cifar', epochs: 15, 'warmup-epochs': 1 },
  smoke: { 'model-size': '0.5x', group: 3, 'image-size': 32, stem: 'cifar', epochs: 1, 'warmup-epochs': 0, 'batch-size': 16, 'max-steps': 10, 'eval-every': 0, 'log-every': 5 },
};

/** Every flag's value under its field name (configKey); a type, not an interface, so it is a plain JSON object. */
export type TrainConfig = {
  dataset: DatasetName;
  dataDir: string | null;
  downloadUrl: string | null;
  /** The preset used (`--preset auto` resolved). */
  preset: PresetName;
  epochs: number;
  maxSteps: number;
  batchSize: number;
  /** Images per forward/backward pass (train/micro_batch.ts); 0: chosen from the adapter's limits. */
  microBatch: number;
  modelSize: ModelSize;
  group: Group;
  imageSize: number;
  stem: Stem;
  precision: Precision;
  lr: number;
  minLr: number;
  warmupEpochs: number;
  lrGranularity: 'step' | 'epoch';
  momentum: number;
  weightDecay: number;
  labelSmoothing: number;
  lossScale: number;
  dynamicLossScale: boolean;
  /** Clean steps before a dynamic loss scale doubles (unused with a fixed scale). */
  lossScaleWindow: number;
  flip: boolean;
  seed: number;
  outDir: string;
  /** A file, `true` for the latest checkpoint in outDir, or null. */
  resume: string | true | null;
  /** A checkpoint whose weights (and momenta) a new run starts from (train/init_from.ts), or null. */
  init: string | null;
  overwrite: boolean;
  keepCheckpoints: number;
  /** `N` steps, `Nm` minutes or `0` (train/periodic_checkpoint.ts). */
  checkpointEvery: string;
  logEvery: number;
  evalEvery: number;
  tuneSeconds: number;
};

/** --batch-size -> batchSize, as a type. */
type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;

/** The TrainConfig field a flag sets (--batch-size -> batchSize): the one place flags map to fields. */
export const configKey = <F extends string>(flag: F): Camel<F> => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as Camel<F>;

// every flag is a TrainConfig field and every field a flag: a compile error otherwise
type Unmatched<A, B> = Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>;
true satisfies ([Unmatched<TrainConfig, { [F in FlagName as Camel<F>]: unknown }>] extends [never] ? true : never);

/** The checkpoint's config, with the flags given explicitly now taking precedence (--resume). */
export function resumedConfig(saved: TrainConfig, now: TrainConfig, explicit: ReadonlySet<string>): TrainConfig {
  // a checkpoint from before a flag existed has no value for it: this invocation's fills it in
  const out = { ...now, ...saved };
  const take = <K extends keyof TrainConfig>(k: K) => { out[k] = now[k]; };
  for (const f of explicit) {
    const k = configKey(f);
    if (k in now) take(k as keyof TrainConfig);
  }
  // where to write and what to resume are always this invocation's
  const cfg = { ...out, outDir: now.outDir, resume: now.resume, overwrite: now.overwrite };
  // checked here, not at parsing: the checkpoint may be the one that makes the scale dynamic
  checkLossScaleWindow(cfg, explicit, explicit.has('dynamic-loss-scale') ? '' : ' (the checkpoint\'s run uses a fixed loss scale)');
  return cfg;
}

/** An explicit --loss-scale-window needs a dynamic scale: a fixed one never grows, so the value would be silently ignored. */
function checkLossScaleWindow(cfg: TrainConfig, explicit: ReadonlySet<string>, why = ''): void {
  if (explicit.has('loss-scale-window') && !cfg.dynamicLossScale) {
    throw new FlagError(`--loss-scale-window: only applies with --dynamic-loss-scale${why}; add --dynamic-loss-scale, or drop --loss-scale-window`);
  }
}

export const TRAIN_USAGE = 'Usage: npm run train -- [flags]\n\nTrains ShuffleNetV1 on CIFAR-10 (or Fashion-MNIST) on the WebGPU engine.';

export function trainHelp(): string {
  const presets = Object.entries(PRESETS).map(([n, p]) => `  ${n.padEnd(6)}${Object.keys(p).length ? Object.entries(p).map(([k, v]) => `--${k} ${v}`).join(' ') : '(the defaults above)'}`);
  return formatHelp(TRAIN_USAGE, TRAIN_FLAGS, ['', 'Presets (explicit flags override them):', '  auto  (the default) seed on a GPU adapter, fast on a CPU adapter',
    ...presets, `  smoke also scales --lr and --min-lr by batch/${LR_BATCH} unless --lr is given`].join('\n'));
}

/** How `--preset` was settled: as given, or (auto) by the kind of adapter. */
export interface PresetChoice { preset: PresetName; auto: boolean }

/** `--preset auto`: seed on a GPU adapter, fast on a CPU one; seed when the adapter is not known (no device yet). */
export function choosePreset(flag: string, adapter?: { software: boolean }): PresetChoice {
  if (flag !== 'auto') return { preset: flag as PresetName, auto: false };
  return { preset: adapter?.software ? 'fast' : 'seed', auto: true };
}

/**
 * Parse `npm run train` arguments; `help` is set when --help was given (the caller prints trainHelp()).
 * `adapter` settles `--preset auto` (without it, auto is seed).
 */
export function parseTrainArgs(argv: readonly string[], adapter?: { software: boolean }): { config: TrainConfig; help: boolean; explicit: Set<string>; preset: PresetChoice } {
  const first = parseFlags(TRAIN_FLAGS, argv);
  const values: Record<string, unknown> = { ...first.values };
  const choice = choosePreset(first.values.preset, adapter);
  values.preset = choice.preset;
  for (const [k, v] of Object.entries(PRESETS[choice.preset])) if (!first.explicit.has(k as FlagName)) values[k] = v;
  if (choice.preset === 'smoke' && !first.explicit.has('lr')) {
    // the seed's rate is for batch 128: a small batch takes a proportionally smaller step
    const f = (values['batch-size'] as number) / LR_BATCH;
    values.lr = TRAIN_FLAGS.lr.default * f;
    if (!first.explicit.has('min-lr')) values['min-lr'] = TRAIN_FLAGS['min-lr'].default * f;
  }
  const v = values as TrainFlags;
  if (!(GROUPS as readonly number[]).includes(v.group)) throw new FlagError(`--group: expected one of ${GROUPS.join('|')}, got '${v.group}'`);
  if (v['warmup-epochs'] > v.epochs) {
    // a short run given only --epochs warms up for all of it; an explicit contradiction is an error
    if (first.explicit.has('warmup-epochs')) throw new FlagError(`--warmup-epochs: ${v['warmup-epochs']} is more than --epochs ${v.epochs}`);
    values['warmup-epochs'] = v.epochs;
  }
  if (v['min-lr'] > v.lr) throw new FlagError(`--min-lr: ${v['min-lr']} is above --lr ${v.lr}`);
  if (v.overwrite && v.resume !== null) throw new FlagError('--overwrite: cannot be combined with --resume (one continues the run in --out-dir, the other deletes it)');
  if (v.init !== null && v.resume !== null) throw new FlagError('--init: cannot be combined with --resume (--resume continues a run with its own weights and schedule; --init starts a new run from a checkpoint\'s weights)');
  parseCheckpointEvery(v['checkpoint-every'] ?? '0');
  // a resumed run's batch may come from its checkpoint: the trainer checks that case
  const micro = v.resume === null ? microBatchError(v['batch-size'], v['micro-batch']) : null;
  if (micro) throw new FlagError(micro);
  const config = Object.fromEntries(Object.entries(values).map(([f, x]) => [configKey(f), x])) as TrainConfig;
  // a resumed run may take --dynamic-loss-scale from its checkpoint: resumedConfig checks that case
  if (v.resume === null) checkLossScaleWindow(config, first.explicit);
  return { config, help: first.help, explicit: first.explicit as Set<string>, preset: choice };
}
