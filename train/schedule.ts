// Learning rate per step: linear warm-up, then cosine decay to a floor (the seed tutorial's text:
// "after four warmup epochs, cosine annealing is used as the learning rate").
//
//   step i (0-based), S steps per epoch, warm-up Ws = warmupEpochs·S steps, T = epochs·S steps:
//     i <  Ws:  lr = base · (i + 1) / Ws                                   (from ~0 up to base)
//     i >= Ws:  lr = min + ½·(base − min)·(1 + cos(π · e / D)),  e = (i − Ws) / S,  D = epochs − warmupEpochs
//
// e is the fractional epoch since warm-up ended: the cosine moves every step. MindSpore's
// `nn.cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, decay_epoch)` computes the same
// curve with e = floor(i / step_per_epoch), i.e. a staircase constant within each epoch, and its
// `nn.warmup_lr` likewise steps once per epoch (base·min(floor(i/S)+1, W)/W). Both are ported
// literally below (`mindsporeCosineDecayLr`, `mindsporeWarmupLr`) and the tests check that our
// continuous curve meets the staircase at every epoch boundary; `granularity: 'epoch'` reproduces
// the staircase exactly.
//
// Note on the seed: its code builds `lr_scheduler = cosine_decay_lr(...)` and then trains with
// `Tensor(lr_scheduler[-1])`, the schedule's LAST value, so the tutorial's run actually used a
// constant 5e-4 for all 250 epochs and no warm-up. We follow its text (warm-up + cosine from 0.05);
// `--lr 0.0005 --min-lr 0.0005 --warmup-epochs 0` reproduces what its code did.

export interface Schedule {
  baseLr: number;
  minLr: number;
  warmupEpochs: number;
  epochs: number;
  stepsPerEpoch: number;
  /** 'step' (default): continuous; 'epoch': MindSpore's per-epoch staircase. */
  granularity?: 'step' | 'epoch';
}

/** Learning rate for 0-based global step `i`. Past the last step it stays at the floor. */
export function lrAt(i: number, s: Schedule): number {
  const S = s.stepsPerEpoch;
  const perEpoch = s.granularity === 'epoch';
  const warmSteps = s.warmupEpochs * S;
  if (i < warmSteps) {
    return perEpoch ? s.baseLr * Math.min(Math.floor(i / S) + 1, s.warmupEpochs) / s.warmupEpochs : s.baseLr * (i + 1) / warmSteps;
  }
  const decay = s.epochs - s.warmupEpochs;
  if (decay <= 0) return s.baseLr;
  const raw = (i - warmSteps) / S;
  const e = Math.min(perEpoch ? Math.floor(raw) : raw, decay);
  return s.minLr + 0.5 * (s.baseLr - s.minLr) * (1 + Math.cos((Math.PI * e) / decay));
}

/** The whole schedule as an array (for plots and tests). */
export function lrTable(s: Schedule): Float64Array {
  const out = new Float64Array(s.epochs * s.stepsPerEpoch);
  for (let i = 0; i < out.length; i++) out[i] = lrAt(i, s);
  return out;
}

/** Literal port of MindSpore 2.x `nn.cosine_decay_lr` (per-epoch staircase). */
export function mindsporeCosineDecayLr(minLr: number, maxLr: number, totalStep: number, stepPerEpoch: number, decayEpoch: number): number[] {
  const delta = 0.5 * (maxLr - minLr);
  const lr: number[] = [];
  for (let i = 0; i < totalStep; i++) {
    const tmpEpoch = Math.min(Math.floor(i / stepPerEpoch), decayEpoch);
    lr.push(minLr + delta * (1 + Math.cos((Math.PI * tmpEpoch) / decayEpoch)));
  }
  return lr;
}

/** Literal port of MindSpore 2.x `nn.warmup_lr`. */
export function mindsporeWarmupLr(learningRate: number, totalStep: number, stepPerEpoch: number, warmupEpoch: number): number[] {
  const lr: number[] = [];
  for (let i = 0; i < totalStep; i++) {
    const currentEpoch = Math.floor(i / stepPerEpoch) + 1;
    lr.push((learningRate * Math.min(currentEpoch, warmupEpoch)) / warmupEpoch);
  }
  return lr;
}
