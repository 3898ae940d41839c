"""The whole `npm run train` recipe in PyTorch, as a judge of our trainer's accuracy curve.

Runs the same preset, on the same data files, with the same semantics as train/ (float32, CPU):
  * weights: model/init.ts drawn from the same seeded stream (engine/rng.ts, sfc32 ported below), so
    the initial weights are bit-identical to ours: Xavier-uniform convs, torch.nn.Linear's default
    classifier (weight then bias), BN gamma 1, beta 0, running mean 0, running var 1;
  * batches: train/data/dataset.ts BatchSampler (per-epoch Fisher-Yates from mix32(seed, epoch), last
    partial batch dropped) and train/session.ts's augmentation stream (seed ^ 0x5eeda06), so every
    step sees the same images with the same crops and flips as ours;
  * augmentation (kernels/augment.ts, train/data/transforms.ts): zero pad, 32x32 crop, flip, bilinear
    resize with half-pixel centres (F.interpolate align_corners=False) to --image-size, then
    v/(255·std) - mean/std; Fashion-MNIST's 28x28 padded by 6 (±4 px offsets; test: centred pad 2)
    and replicated to 3 channels;
  * loss: cross-entropy with label smoothing q = (1-s)·onehot + s/K, mean over the batch, times the
    loss scale S before backward (S/K per pass with --micro-batch K passes);
  * optimizer (train/sgd.ts, kernels/sgd.ts; MindSpore Momentum): v = m·v + g/S + wd·w (no wd on BN
    gamma/beta; the classifier bias decays), w -= lr·v; dynamic loss scaling as ours;
  * schedule (train/schedule.ts): linear warm-up then cosine, per step or per epoch;
  * evaluation (train/evaluate.ts): every test image, test transform, eval-mode BN, loss with the
    same label smoothing, top-1/top-5 with ties going to the lower class index.
BN: momentum 0.1 with the unbiased batch variance in the running variance, eps 1e-5 (PyTorch's
defaults, which are ours). Differences are listed in scripts/torch_twin/README.md.

    /usr/bin/python3 scripts/torch_twin/train.py --dataset fashion-mnist --preset fast --epochs 2 --out twin.jsonl
    /usr/bin/python3 scripts/torch_twin/train.py --check-ts --dataset fashion-mnist --preset fast   # compare with ours
"""

import argparse
import gzip
import hashlib
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shufflenet import ShuffleNetV1  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---- presets: copied from train/config.ts (TRAIN_FLAGS defaults = the seed preset; PRESETS) ----------
# `--check-ts` compares them with parseTrainArgs(['--preset', P]).config.
DEFAULTS = {
    'dataset': 'cifar10', 'data_dir': None, 'epochs': 250, 'max_steps': 0, 'batch_size': 128, 'micro_batch': 0,
    'model_size': '2.0x', 'group': 3, 'image_size': 224, 'stem': 'imagenet', 'lr': 0.05, 'min_lr': 0.0005,
    'warmup_epochs': 4, 'lr_granularity': 'step', 'momentum': 0.9, 'weight_decay': 4e-5, 'label_smoothing': 0.1,
    'loss_scale': 1024, 'dynamic_loss_scale': False, 'loss_scale_window': 2000, 'flip': True, 'seed': 1,
    'log_every': 20, 'eval_every': 1,
}
PRESETS = {
    'seed': {},
    'fast': {'model_size': '0.5x', 'group': 3, 'image_size': 32, 'stem': 'cifar', 'epochs': 15, 'warmup_epochs': 1},
    'smoke': {'model_size': '0.5x', 'group': 3, 'image_size': 32, 'stem': 'cifar', 'epochs': 1, 'warmup_epochs': 0,
              'batch_size': 16, 'max_steps': 10, 'eval_every': 0, 'log_every': 5},
}
LR_BATCH = 128  # the smoke preset scales --lr and --min-lr by batch/128 unless --lr is given

# ---- datasets: train/data/fashion_mnist.ts, cifar10.ts ---------------------------------------------
FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_MEAN, FASHION_MNIST_STD = [0.2860], [0.3530]
CIFAR10_MEAN, CIFAR10_STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]
CROP, CROP_PAD = 32, 4  # train/data/transforms.ts

M32 = 0xFFFFFFFF


# ---- engine/rng.ts (sfc32 seeded by splitmix32) and dataset.ts's mix32, to the bit ----------------
class Rng:
    def __init__(self, seed):
        s = seed & M32
        words = []
        for _ in range(4):
            s = (s + 0x9E3779B9) & M32
            z = s
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
            words.append(z ^ (z >> 16))
        self.a, self.b, self.c, self.d = words
        for _ in range(12):
            self.u32()

    def u32(self):
        a, b, c, d = self.a, self.b, self.c, self.d
        t = (a + b + d) & M32
        self.d = (d + 1) & M32
        self.a = b ^ (b >> 9)
        self.b = (c + (c << 3)) & M32
        c = ((c << 21) | (c >> 11)) & M32
        self.c = (c + t) & M32
        return t

    def next(self):
        return self.u32() / 4294967296.0

    def int(self, n):
        return math.floor(self.next() * n)

    def uniforms_f32(self, n, bound):
        """n draws of uniform(-bound, bound) (lo + (hi - lo)·next() in float64), rounded to float32."""
        lo, span, u32 = -bound, bound - -bound, self.u32
        return np.array([lo + span * (u32() / 4294967296.0) for _ in range(n)], dtype=np.float64).astype(np.float32)

    def shuffle(self, xs):
        for i in range(len(xs) - 1, 0, -1):
            j = math.floor(self.next() * (i + 1))
            xs[i], xs[j] = xs[j], xs[i]
        return xs


def mix32(x):
    x &= M32
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & M32
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & M32
    return x ^ (x >> 16)


def epoch_order(seed, count, epoch):
    """BatchSampler.epochOrder: the permutation of 0..count-1 for (seed, epoch)."""
    return np.array(Rng(mix32(seed ^ mix32(epoch + 0x632BE5AB))).shuffle(list(range(count))), dtype=np.int64)


# ---- model/init.ts, in model/shufflenet.ts's order of draws ----------------------------------------
def init_weights(model, seed):
    rng = Rng(seed)

    def xavier(conv):
        w = conv.weight
        receptive = w.shape[2] * w.shape[3]
        bound = math.sqrt(6 / (w.shape[1] * receptive + w.shape[0] * receptive))
        w.data.copy_(torch.from_numpy(rng.uniforms_f32(w.numel(), bound)).view(w.shape))

    xavier(model.first_conv[0])
    for b in model.features:
        for conv in (b.branch_main_1[0], b.branch_main_2[0], b.branch_main_2[2]):
            xavier(conv)
    lin = model.classifier
    bound = 1 / math.sqrt(lin.in_features)
    lin.weight.data.copy_(torch.from_numpy(rng.uniforms_f32(lin.weight.numel(), bound)).view(lin.weight.shape))
    lin.bias.data.copy_(torch.from_numpy(rng.uniforms_f32(lin.bias.numel(), bound)))
    for m in model.modules():  # BatchNorm2d: PyTorch's reset state is ours
        if isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


def sgd_params(model):
    """(name, parameter, decay) in state-dict order: weight decay on all but batch-norm gamma/beta."""
    bn = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    return [(n, p, id(p) not in bn) for n, p in model.named_parameters()]


# ---- data ------------------------------------------------------------------------------------------
def _read_idx(path, magic, rank):
    for f in (path + '.gz', path):
        if os.path.exists(f):
            break
    else:
        sys.exit(f'error: {path}(.gz) not found: install dataset-fashion-mnist or pass --data-dir DIR')
    raw = open(f, 'rb').read()
    if raw[:2] == b'\x1f\x8b':
        raw = gzip.decompress(raw)
    found = int.from_bytes(raw[0:4], 'big')
    if found != magic:
        sys.exit(f'error: {f}: magic number {found}, expected {magic}')
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(rank)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        sys.exit(f'error: {f} is truncated: dims {dims} need {int(np.prod(dims))} bytes, it has {data.size}')
    return data.reshape(dims).copy()  # writable, for torch.from_numpy


def load_dataset(name, split, data_dir):
    """(images uint8 [N, C, H, W], labels int64 [N], mean, std): C is 1 for Fashion-MNIST (replicated per batch)."""
    if name == 'fashion-mnist':
        d = data_dir or FASHION_MNIST_DIR
        prefix = 'train' if split == 'train' else 't10k'
        img = _read_idx(os.path.join(d, f'{prefix}-images-idx3-ubyte'), 2051, 3)
        lbl = _read_idx(os.path.join(d, f'{prefix}-labels-idx1-ubyte'), 2049, 1)
        return img[:, None], lbl.astype(np.int64), FASHION_MNIST_MEAN * 3, FASHION_MNIST_STD * 3
    d = data_dir or 'dataset'
    if os.path.isdir(os.path.join(d, 'cifar-10-batches-bin')):
        d = os.path.join(d, 'cifar-10-batches-bin')
    files = [f'data_batch_{i}.bin' for i in range(1, 6)] if split == 'train' else ['test_batch.bin']
    recs = []
    for f in files:
        p = os.path.join(d, f)
        if not os.path.exists(p):
            sys.exit(f'error: {p} not found: run `npm run train -- --dataset cifar10` once (it downloads CIFAR-10) or pass --data-dir DIR')
        raw = np.fromfile(p, dtype=np.uint8)
        if raw.size % 3073:
            sys.exit(f'error: {p} is not a whole number of 3073-byte records')
        recs.append(raw.reshape(-1, 3073))
    r = np.concatenate(recs)
    return r[:, 1:].reshape(-1, 3, 32, 32), r[:, 0].astype(np.int64), CIFAR10_MEAN, CIFAR10_STD


class Normalize:
    """kernels/augment.ts's y = v·1/(255·std) - mean/std, constants rounded once from float64."""

    def __init__(self, mean, std):
        self.scale = torch.tensor([1 / (255 * s) for s in std], dtype=torch.float32).view(1, 3, 1, 1)
        self.bias = torch.tensor([-m / s for m, s in zip(mean, std)], dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, v):
        return v * self.scale + self.bias


def transform(images, pad, crops, flips, size, norm):
    """uint8 [N, C, H, W] -> zero pad, 32x32 crop at (oy, ox) of the padded image, flip, resize, normalise."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = F.pad(x, (pad, pad, pad, pad))
    x = torch.stack([x[i, :, oy:oy + CROP, ox:ox + CROP] for i, (oy, ox) in enumerate(crops)])
    if flips is not None and flips.any():
        x = torch.where(flips.view(-1, 1, 1, 1), x.flip(3), x)
    if size != CROP:
        x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
    return norm(x)


def random_crops(rng, n, side, pad, flip):
    """transforms.ts randomCrops: per image oy, ox (uniform in 0..side+2·pad-32), then a flip draw if flips are on."""
    r = side + 2 * pad - CROP + 1
    crops, flips = [], []
    for _ in range(n):
        oy = rng.int(r)
        ox = rng.int(r)
        crops.append((oy, ox))
        flips.append(flip and rng.next() < 0.5)
    return crops, torch.tensor(flips)


# ---- train/schedule.ts lrAt ------------------------------------------------------------------------
def lr_at(i, c, steps_per_epoch):
    S, per_epoch = steps_per_epoch, c.lr_granularity == 'epoch'
    warm = c.warmup_epochs * S
    if i < warm:
        return c.lr * min(i // S + 1, c.warmup_epochs) / c.warmup_epochs if per_epoch else c.lr * (i + 1) / warm
    decay = c.epochs - c.warmup_epochs
    if decay <= 0:
        return c.lr
    raw = (i - warm) / S
    e = min(math.floor(raw) if per_epoch else raw, decay)
    return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1 + math.cos(math.pi * e / decay))


# ---- kernels/sgd.ts: MindSpore Momentum with a loss scale -------------------------------------------
class Momentum:
    def __init__(self, params, c):
        self.params = params
        self.v = [torch.zeros_like(p) for _, p, _ in params]
        self.scale = float(np.float32(c.loss_scale))
        self.dynamic = c.dynamic_loss_scale
        self.window = c.loss_scale_window
        self.good = 0
        self.skipped = 0

    @torch.no_grad()
    def step(self, lr, momentum, wd):
        f32 = lambda v: float(np.float32(v))  # noqa: E731 - hyper is an f32 [4] tensor in ours
        lr, momentum, wd = f32(lr), f32(momentum), f32(wd)
        inv = f32(1 / self.scale)
        live = [(p, v, d) for (_, p, d), v in zip(self.params, self.v) if p.grad is not None]
        if self.dynamic:
            bad = any(not torch.isfinite(p.grad).all() or not torch.isfinite(p.grad * inv).all() for p, _, _ in live)
            if bad:  # skip, halve (min 1), restart the count
                self.scale, self.good, self.skipped = max(self.scale / 2, 1.0), 0, self.skipped + 1
                return
        for p, v, decay in live:
            v.mul_(momentum).add_(p.grad, alpha=inv)
            if decay:
                v.add_(p, alpha=wd)
            p.sub_(v, alpha=lr)
        if self.dynamic:
            self.good += 1
            if self.good >= self.window:
                self.scale, self.good = min(self.scale * 2, 2.0 ** 24), 0


def topk_hits(logits, y):
    """softmax_xent.ts topkCorrect: the label's rank counts classes ahead of it (ties: the lower index is ahead)."""
    zy = logits.gather(1, y[:, None])
    k = torch.arange(logits.shape[1])[None, :]
    rank = ((logits > zy) | ((logits == zy) & (k < y[:, None]))).sum(1)
    ok = ~torch.isnan(zy[:, 0])
    return int(((rank < 1) & ok).sum()), int(((rank < 5) & ok).sum())


@torch.no_grad()
def evaluate(model, test, c, norm):
    """train/evaluate.ts: every image (no partial batch dropped), batches of min(batch, 256), eval-mode BN."""
    t0 = time.time()
    images, labels = test['images'], test['labels']
    n_all, H = len(labels), images.shape[2]
    pad = (CROP - H) // 2 if H < CROP and (CROP - H) % 2 == 0 else 0
    bs = min(c.batch_size, 256)
    was = model.training
    model.eval()
    loss_sum, t1, t5 = 0.0, 0, 0
    for s in range(0, n_all, bs):
        n = min(bs, n_all - s)
        x = transform(images[s:s + n], pad, [(0, 0)] * n, None, c.image_size, norm)
        y = torch.from_numpy(labels[s:s + n])
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, label_smoothing=c.label_smoothing)) * n
        a, b = topk_hits(logits, y)
        t1, t5 = t1 + a, t5 + b
    model.train(was)
    return {'loss': loss_sum / n_all, 'top1': t1 / n_all, 'top5': t5 / n_all, 'seconds': time.time() - t0}


# ---- flags -----------------------------------------------------------------------------------------
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='Flags without a help text mean what they mean in `npm run train -- --help`; unset ones take the preset\'s value.')
    a = p.add_argument
    a('--dataset', choices=['cifar10', 'fashion-mnist'])
    a('--data-dir')
    a('--preset', choices=['seed', 'fast', 'smoke'], default='fast',
      help="default fast: what `npm run train` picks on a CPU adapter (on a GPU it picks seed)")
    for f, t in [('epochs', int), ('max-steps', int), ('batch-size', int), ('micro-batch', int), ('group', int),
                 ('image-size', int), ('lr', float), ('min-lr', float), ('warmup-epochs', float), ('momentum', float),
                 ('weight-decay', float), ('label-smoothing', float), ('loss-scale', float), ('loss-scale-window', int),
                 ('seed', int), ('log-every', int), ('eval-every', int)]:
        a('--' + f, type=t)
    a('--model-size', choices=['0.5x', '1.0x', '1.5x', '2.0x'])
    a('--stem', choices=['imagenet', 'cifar'])
    a('--lr-granularity', choices=['step', 'epoch'])
    a('--dynamic-loss-scale', action='store_true', default=None)
    a('--no-flip', dest='flip', action='store_false', default=None)
    a('--threads', type=int, default=2, help='intra-op threads (default 2)')
    a('--subset', type=int, default=0, help='train on the first N training images only (twin only; 0: all)')
    a('--test-subset', type=int, default=0, help='evaluate the first N test images only (twin only; 0: all)')
    a('--out', help="JSON lines: a config line, then `step` lines (every --log-every steps) and `epoch` lines, as ours' metrics.jsonl")
    a('--compare-checkpoint', metavar='FILE', help="after the run, compare weights, BN statistics and momenta with our checkpoint FILE "
      "(ours at the same step, e.g. `npm run train -- ... --max-steps N` writes one)")
    a('--check-ts', action='store_true', help='compare presets, initial weights, batch order and crops with ours (runs node), then exit')
    ns = p.parse_args(argv)
    explicit = {k for k, v in vars(ns).items() if v is not None and k in DEFAULTS}
    c = dict(DEFAULTS)
    c.update(PRESETS[ns.preset])
    c.update({k: getattr(ns, k) for k in explicit})
    if ns.preset == 'smoke' and 'lr' not in explicit:
        f = c['batch_size'] / LR_BATCH
        c['lr'] = DEFAULTS['lr'] * f
        if 'min_lr' not in explicit:
            c['min_lr'] = DEFAULTS['min_lr'] * f
    if c['warmup_epochs'] > c['epochs']:
        if 'warmup_epochs' in explicit:
            p.error(f"--warmup-epochs: {c['warmup_epochs']} is more than --epochs {c['epochs']}")
        c['warmup_epochs'] = c['epochs']
    if c['min_lr'] > c['lr']:
        p.error(f"--min-lr: {c['min_lr']} is above --lr {c['lr']}")
    if c['micro_batch'] and c['batch_size'] % c['micro_batch']:
        p.error(f"--micro-batch: {c['micro_batch']} does not divide --batch-size {c['batch_size']}")
    for k in ('preset', 'threads', 'subset', 'test_subset', 'out', 'check_ts', 'compare_checkpoint'):
        c[k] = getattr(ns, k)
    return argparse.Namespace(**c)


# schedules --check-ts compares (train/schedule.ts Schedule fields): fractional warm-up, none, all warm-up
CHECK_SCHEDULES = [
    {'baseLr': 0.05, 'minLr': 0.0005, 'warmupEpochs': w, 'epochs': e, 'stepsPerEpoch': 7, 'granularity': g}
    for g in ('step', 'epoch') for w, e in ((1.5, 5), (0, 4), (3, 3))]

# ---- --check-ts: the same numbers from our code -----------------------------------------------------
TS_CHECK = r"""
import { createHash } from 'node:crypto';
const R = process.env.TWIN_REPO, A = JSON.parse(process.env.TWIN_ARGS);
const { parseTrainArgs } = await import(`file://${R}/train/config.ts`);
const { Rng, initDevice } = await import(`file://${R}/engine/index.ts`);
const { BatchSampler } = await import(`file://${R}/train/data/dataset.ts`);
const { randomCrops } = await import(`file://${R}/train/data/transforms.ts`);
const { ShuffleNetV1 } = await import(`file://${R}/model/shufflenet.ts`);
const { lrAt } = await import(`file://${R}/train/schedule.ts`);
const lr = A.schedules.map((s) => Array.from({ length: s.epochs * s.stepsPerEpoch + 3 }, (_, i) => lrAt(i, s)));
const presets = Object.fromEntries(['seed', 'fast', 'smoke'].map((p) => [p, parseTrainArgs(['--preset', p]).config]));
const order = Array.from(new BatchSampler({ count: A.count, batchSize: 1, seed: A.seed }).epochOrder(A.epoch).subarray(0, 32));
const crops = randomCrops(new Rng((A.seed ^ 0x5eeda06) >>> 0), 64, { H: A.side, W: A.side, pad: A.pad, crop: 32, size: A.size, flip: true });
await initDevice();
const model = new ShuffleNetV1({ size: A.modelSize, group: A.group, classes: 10, imageSize: A.size, stem: A.stem, seed: A.seed });
const state = {};
for (const [k, v] of await model.readStateDict()) state[k] = createHash('sha256').update(Buffer.from(Float32Array.from(v.data).buffer)).digest('hex');
const decay = Object.fromEntries(model.parameters().map((p) => [p.name, p.decay]));
console.log(JSON.stringify({ presets, order, crops, state, decay, lr }));
process.exit(0);
"""


def check_ts(c, train_count, side, pad):
    args = {'count': train_count, 'seed': c.seed, 'epoch': 0, 'side': side, 'pad': pad, 'size': c.image_size,
            'modelSize': c.model_size, 'group': c.group, 'stem': c.stem, 'schedules': CHECK_SCHEDULES}
    env = dict(os.environ, TWIN_REPO=REPO, TWIN_ARGS=json.dumps(args))
    env.setdefault('EGL_PLATFORM', 'surfaceless')
    r = subprocess.run(['node', '--import', 'tsx', '--input-type=module', '-e', TS_CHECK], cwd=REPO, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f'error: the node side of --check-ts failed:\n{r.stderr[-3000:]}')
    ts = json.loads(r.stdout.strip().splitlines()[-1])
    bad = []
    camel = lambda k: k.split('_')[0] + ''.join(w.capitalize() for w in k.split('_')[1:])  # noqa: E731
    for name in ('seed', 'fast', 'smoke'):
        ours = parse_args(['--preset', name])
        for k in DEFAULTS:
            if k in ('dataset', 'data_dir'):
                continue
            if ts['presets'][name].get(camel(k)) != getattr(ours, k):
                bad.append(f'preset {name}: {k} is {getattr(ours, k)!r} here, {ts["presets"][name].get(camel(k))!r} in train/config.ts')
    order = epoch_order(c.seed, train_count, 0)[:32].tolist()
    if order != ts['order']:
        bad.append(f'epoch 0 order differs: {order[:8]} vs ours {ts["order"][:8]}')
    for s, want in zip(CHECK_SCHEDULES, ts['lr']):
        sc = argparse.Namespace(lr=s['baseLr'], min_lr=s['minLr'], warmup_epochs=s['warmupEpochs'], epochs=s['epochs'],
                                lr_granularity=s['granularity'])
        got = [lr_at(i, sc, s['stepsPerEpoch']) for i in range(len(want))]
        worst = max(abs(a - b) / b for a, b in zip(got, want))
        if worst > 1e-12:
            bad.append(f'lr schedule {s}: relative difference up to {worst:.3g}')
    crops, flips = random_crops(Rng((c.seed ^ 0x5EEDA06) & M32), 64, side, pad, True)
    theirs = [((x['oy'], x['ox']), x['flip']) for x in ts['crops']]
    if list(zip(crops, flips.tolist())) != theirs:
        bad.append('the first 64 crops/flips differ')
    model = ShuffleNetV1(10, c.model_size, c.group, c.stem)
    init_weights(model, c.seed)
    mine = {k: hashlib.sha256(v.detach().numpy().astype(np.float32).tobytes()).hexdigest()
            for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    if set(mine) != set(ts['state']):
        bad.append(f'state-dict names differ: {sorted(set(mine) ^ set(ts["state"]))[:6]}')
    diff = [k for k in mine if k in ts['state'] and mine[k] != ts['state'][k]]
    if diff:
        bad.append(f'{len(diff)} of {len(mine)} initial tensors differ, e.g. {diff[:4]}')
    dec = {n: d for n, _, d in sgd_params(model)}
    if dec != ts['decay']:
        bad.append(f'weight-decay flags differ: {[k for k in dec if dec[k] != ts["decay"].get(k)][:6]}')
    print(f'--check-ts: presets seed/fast/smoke, {len(CHECK_SCHEDULES)} lr schedules, epoch-0 order (first 32 of {train_count}), 64 crops/flips, '
          f'{len(mine)} initial tensors (bit-exact), {len(dec)} decay flags: ' + ('all equal' if not bad else 'DIFFERENT'))
    for b in bad:
        print('  ' + b)
    return not bad


# ---- --compare-checkpoint: how far our weights are from the twin's after the same steps ---------------
def read_safetensors(path):
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {})
    kinds = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64, 'I64': np.int64}
    out = {}
    for k, v in header.items():
        a, b = v['data_offsets']
        out[k] = np.frombuffer(data[a:b], dtype=kinds[v['dtype']]).reshape(v['shape']).astype(np.float64)
    return out, meta


def compare_checkpoint(path, model, params, opt, step):
    """rel-L2 |twin - ours| / |ours| per tensor, grouped: parameters, BN running statistics, momenta."""
    theirs, meta = read_safetensors(path)
    their_step = json.loads(meta['training'])['step'] if 'training' in meta else None
    if their_step is not None and their_step != step:
        print(f'warning: {path} is at step {their_step}, the twin at step {step}: the numbers below compare different steps')
    mine = {k: v.detach().double().numpy() for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    groups = {'parameters': [], 'running statistics': [], 'momenta': []}
    for k, v in mine.items():
        groups['running statistics' if 'running_' in k else 'parameters'].append((k, v, theirs.get(k)))
    for (n, _, _), v in zip(params, opt.v):
        groups['momenta'].append((n, v.double().numpy(), theirs.get('optimizer.momentum.' + n)))
    print(f'--compare-checkpoint {path} (step {their_step}), rel-L2 twin vs ours:')
    for g, rows in groups.items():
        missing = [k for k, _, t in rows if t is None]
        rel = [(float(np.linalg.norm(a - t) / max(np.linalg.norm(t), 1e-30)), k) for k, a, t in rows if t is not None]
        if not rel:
            print(f'  {g}: none in the checkpoint')
            continue
        num = math.sqrt(sum(float(np.sum((a - t) ** 2)) for _, a, t in rows if t is not None))
        den = math.sqrt(sum(float(np.sum(t ** 2)) for _, _, t in rows if t is not None))
        rel.sort()
        print(f'  {g} ({len(rel)} tensors): all together {num / den:.3g}, median {rel[len(rel) // 2][0]:.3g}, '
              f'worst {rel[-1][0]:.3g} ({rel[-1][1]}){f"; missing in the checkpoint: {missing[:4]}" if missing else ""}')


# ---- the run ---------------------------------------------------------------------------------------
def pct(v):
    return f'{100 * v:.2f}%'


def main(argv):
    c = parse_args(argv)
    torch.set_num_threads(c.threads)
    images, labels, mean, std = load_dataset(c.dataset, 'train', c.data_dir)
    if c.subset:
        images, labels = images[:c.subset], labels[:c.subset]
    side = images.shape[2]
    if side != images.shape[3] or side > CROP:
        sys.exit(f'error: images are {side}x{images.shape[3]}; the train transform expects square images of at most 32x32')
    pad = CROP_PAD + (CROP - side) // 2
    if c.check_ts:
        sys.exit(0 if check_ts(c, len(labels), side, pad) else 1)
    test = None
    if c.eval_every > 0:
        ti, tl, _, _ = load_dataset(c.dataset, 'test', c.data_dir)
        if c.test_subset:
            ti, tl = ti[:c.test_subset], tl[:c.test_subset]
        test = {'images': ti, 'labels': tl}
    norm = Normalize(mean, std)
    N, count = c.batch_size, len(labels)
    S = count // N  # the last partial batch is dropped
    if S == 0:
        sys.exit(f'error: --batch-size {N} is larger than the {count} training images')
    total = c.epochs * S
    stop_at = min(c.max_steps, total) if c.max_steps > 0 else total
    M = c.micro_batch or N
    K = N // M

    t0 = time.time()
    model = ShuffleNetV1(10, c.model_size, c.group, c.stem)
    init_weights(model, c.seed)
    model.train()
    params = sgd_params(model)
    opt = Momentum(params, c)
    aug_rng = Rng((c.seed ^ 0x5EEDA06) & M32)
    print(f'model ShuffleNetV1 {c.model_size} g={c.group} {c.stem} stem, {c.image_size}x{c.image_size}, f32 (PyTorch '
          f'{torch.__version__}, {c.threads} threads; init {time.time() - t0:.1f} s); {c.dataset}: {count} images, '
          f'{S} steps of {N}{f" ({K} micro-batches of {M})" if K > 1 else ""} per epoch, {c.epochs} epochs'
          f'{f" (stopping after step {stop_at})" if stop_at < total else ""}; lr {c.lr} -> {c.min_lr}, '
          f'{c.warmup_epochs} warm-up epochs; loss scale {c.loss_scale}{" (dynamic)" if c.dynamic_loss_scale else ""}')
    out = open(c.out, 'w') if c.out else None

    def emit(o):
        if out:
            out.write(json.dumps(o) + '\n')
            out.flush()

    emit({'event': 'config', 'twin': 'torch', **{k: v for k, v in vars(c).items() if k not in ('out', 'check_ts', 'compare_checkpoint')},
          'trainImages': count, 'stepsPerEpoch': S})
    step, epoch = 0, 0
    while step < stop_at:
        order = epoch_order(c.seed, count, epoch)
        ep = {'loss': 0.0, 'n': 0, 't1': 0, 't5': 0, 'steps': 0}
        win = {'loss': 0.0, 'n': 0, 'steps': 0, 't': time.time()}
        t_epoch = time.time()
        for b in range(S):
            if step >= stop_at:
                break
            idx = order[b * N:(b + 1) * N]
            crops, flips = random_crops(aug_rng, N, side, pad, c.flip)
            lr = lr_at(step, c, S)
            y_all = torch.from_numpy(labels[idx])
            pass_scale = torch.tensor(opt.scale * (1 / K) if K > 1 else opt.scale, dtype=torch.float32)
            loss_sum, h1, h5 = 0.0, 0, 0
            for k in range(K):
                sl = slice(k * M, (k + 1) * M)
                x = transform(images[idx[sl]], pad, crops[sl], flips[sl], c.image_size, norm)
                logits = model(x)
                loss = F.cross_entropy(logits, y_all[sl], label_smoothing=c.label_smoothing)
                (loss * pass_scale).backward()
                loss_sum += float(loss)
                a, bb = topk_hits(logits.detach(), y_all[sl])
                h1, h5 = h1 + a, h5 + bb
            loss_v = loss_sum / K
            if not math.isfinite(loss_v) and not c.dynamic_loss_scale:
                print(f'the loss became non-finite ({loss_v}) at step {step + 1} (epoch {epoch + 1}); stopping')
                return 1
            opt.step(lr, c.momentum, c.weight_decay)
            for _, p, _ in params:
                p.grad = None
            step += 1
            if math.isfinite(loss_v):
                ep['loss'] += loss_v * N
                ep['n'] += N
            ep['t1'] += h1
            ep['t5'] += h5
            ep['steps'] += 1
            if math.isfinite(loss_v):
                win['loss'] += loss_v
                win['n'] += 1
            win['steps'] += 1
            if step % c.log_every == 0 or b == S - 1 or step == stop_at:  # ours reads its metrics back at these steps
                dt, mean = time.time() - win['t'], win['loss'] / win['n'] if win['n'] else float('nan')
                print(f'  step {step} (epoch {epoch + 1}, {b + 1}/{S}): loss {loss_v:.6f} (mean of {win["steps"]}: '
                      f'{mean:.6f}) lr {lr:.3g} {win["steps"] * N / dt:.1f} img/s', flush=True)
                emit({'event': 'step', 'epoch': epoch + 1, 'step': step, 'loss': mean, 'lastLoss': loss_v, 'lr': lr,
                      'imagesPerSec': win['steps'] * N / dt})
                win = {'loss': 0.0, 'n': 0, 'steps': 0, 't': time.time()}
        seconds = time.time() - t_epoch
        epoch += 1
        partial = ep['steps'] < S
        imgs = ep['steps'] * N
        rec = {'event': 'epoch', 'epoch': epoch, 'step': step, 'trainLoss': ep['loss'] / ep['n'] if ep['n'] else None,
               'trainTop1': ep['t1'] / imgs, 'trainTop5': ep['t5'] / imgs, 'seconds': seconds, 'lr': lr_at(step - 1, c, S)}
        if partial:
            rec['partial'] = True  # stopped by --max-steps inside the epoch (ours prints no epoch line then)
        test_text = ''
        if test is not None and (epoch % c.eval_every == 0 or epoch == c.epochs or partial):
            r = evaluate(model, test, c, norm)
            rec.update(testLoss=r['loss'], testTop1=r['top1'], testTop5=r['top5'], evalSeconds=r['seconds'], testImages=len(test['labels']))
            test_text = f', test loss {r["loss"]:.4f} top-1 {pct(r["top1"])} top-5 {pct(r["top5"])} ({r["seconds"]:.1f} s)'
        if opt.skipped:
            rec['skippedSteps'], rec['lossScale'] = opt.skipped, opt.scale
        loss_text = f'{rec["trainLoss"]:.6f}' if rec['trainLoss'] is not None else 'nan'
        print(f'epoch: {epoch} step: {ep["steps"]}{" (partial)" if partial else ""}, loss is {loss_text}, '
              f'train top-1 {pct(rec["trainTop1"])}{test_text}; epoch time {seconds:.1f}s, '
              f'per step time {1000 * seconds / ep["steps"]:.1f} ms', flush=True)
        emit(rec)
    if out:
        out.close()
    if c.compare_checkpoint:
        compare_checkpoint(c.compare_checkpoint, model, params, opt, step)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
