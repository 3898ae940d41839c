"""Write PyTorch reference fixtures for the TypeScript ShuffleNetV1.

Run from the repo root:  /usr/bin/python3 scripts/torch_twin/make_fixtures.py [TAG ...]
Writes tests/fixtures/shufflenet_<TAG>.safetensors, TAG = <size>_g<g>[_cifar], for the given tags
or all of CONFIGS (deterministic: fixed seeds, one CPU thread). See scripts/torch_twin/README.md for
the key layout.
"""

import copy
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shufflenet import ShuffleNetV1, avgpool_same, maxpool_same, same_pad  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
OUT_DIR = os.path.join(REPO, 'tests', 'fixtures')

# (size, group, stem, image size); small enough to commit (a few MB each). Image size: every
# train-mode BN must see enough values per channel. Imagenet stem at 64 or 48: stage 4 is 2x2, so its
# BNs see 16 values (at 32 it is 1x1: 4 values). Cifar stem (stride 1, no max pool) at 32, the size the
# fast preset trains at: stage 4 is 4x4, 64 values.
CONFIGS = [('0.5x', 3, 'imagenet', 64), ('0.5x', 8, 'imagenet', 64),
           ('0.5x', 3, 'cifar', 32),     # the fast preset's model
           # a group of the paper's Table 1 (1/2/4; g=4 gives the smaller file). 48, not 64: at 64 its
           # 24-channel stem has so many max-pool windows that sample_input finds no tie-free image.
           ('1.0x', 4, 'imagenet', 48)]
TWO_STEPS = {('0.5x', 3, 'imagenet')}  # also two optimizer steps (momentum.*, grad2.*): one config is enough for the optimizer
BATCH, N_CLASS = 4, 10
STEM_DESC = {
    'imagenet': 'conv3x3 stride 2 pad 1 + BN + ReLU + maxpool3x3 stride 2 same (-inf pad, top/left gets total//2)',
    'cifar': 'conv3x3 stride 1 pad 1 + BN + ReLU (no max pool)',
}
LR, MOMENTUM, WD, LABEL_SMOOTHING = 0.05, 0.9, 4e-5, 0.1
BN_EPS, BN_MOMENTUM = 1e-5, 0.1
MARGIN = 1e-4          # required: no |ReLU input| and no max-pool top-2 gap below this
PICK_MARGIN = 2.5e-4   # what beta selection aims for (slack for re-computation rounding)
SMALL_BN_MARGIN = 0.05  # train-mode margin where the ReLU feeds a BN over only BATCH values
ERR_RATIO = 20.0       # |v64| must be >= ERR_RATIO * |v32 - v64| at every ReLU input
MAX_INPUT_TRIES = 50
MAX_IMAGE_TRIES = 2000
STEM_GAP = 4e-4        # min top-2 gap of every max-pool window, in stem-conv output units
BETA_TRIES = 2000
SEED = 1234

torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------
# safetensors (written by hand; byte-compatible with model/safetensors.ts encodeSafetensors)

_DT = {torch.float32: ('F32', '<f4'), torch.float64: ('F64', '<f8'), torch.int64: ('I64', '<i8')}


def write_safetensors(path, tensors, metadata):
    names = sorted(tensors)
    entries = []
    if metadata:
        for k, v in metadata.items():
            assert isinstance(v, str), k
        body = ','.join(f'{json.dumps(k)}:{json.dumps(metadata[k])}' for k in sorted(metadata))
        entries.append(f'"__metadata__":{{{body}}}')
    blobs, off = [], 0
    for n in names:
        t = tensors[n].detach().cpu().contiguous()
        dt, npdt = _DT[t.dtype]
        b = t.numpy().astype(npdt, copy=False).tobytes()
        info = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        entries.append(f'{json.dumps(n)}:{json.dumps(info, separators=(",", ":"))}')
        blobs.append(b)
        off += len(b)
    header = ('{' + ','.join(entries) + '}').encode('utf-8')
    header += b' ' * ((-len(header)) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(header)))
        f.write(header)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    assert (8 + n) % 8 == 0
    head = json.loads(raw[8:8 + n])
    meta = head.pop('__metadata__', {})
    base, out = 8 + n, {}
    inv = {v[0]: v[1] for v in _DT.values()}
    for k, info in head.items():
        b, e = info['data_offsets']
        out[k] = np.frombuffer(raw[base + b:base + e], dtype=inv[info['dtype']]).reshape(info['shape'])
    return out, meta


# ----------------------------------------------------------------------------------------
# self-checks of the 'same' pooling against a naive loop


def _naive_pool(x, kind):
    n, c, h, w = x.shape
    pt, _ = same_pad(h)
    pl, _ = same_pad(w)
    oh, ow = -(-h // 2), -(-w // 2)
    out = torch.empty(n, c, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * 2 - pt, j * 2 - pl
            rs = [r for r in range(r0, r0 + 3) if 0 <= r < h]
            cs = [q for q in range(c0, c0 + 3) if 0 <= q < w]
            win = x[:, :, rs][:, :, :, cs]
            out[:, :, i, j] = win.amax(dim=(2, 3)) if kind == 'max' else win.mean(dim=(2, 3))
    return out


def _check_pools():
    g = torch.Generator().manual_seed(0)
    for h, w in [(16, 16), (7, 7), (5, 8), (2, 2), (1, 3), (3, 1)]:
        x = torch.randn(2, 3, h, w, generator=g, dtype=torch.float64)
        assert torch.allclose(maxpool_same(x), _naive_pool(x, 'max'), rtol=0, atol=1e-12), (h, w)
        assert torch.allclose(avgpool_same(x), _naive_pool(x, 'avg'), rtol=0, atol=1e-12), (h, w)


# ----------------------------------------------------------------------------------------
# initialisation


def is_bn_affine(model, pname):
    mod_name, _, leaf = pname.rpartition('.')
    return isinstance(model.get_submodule(mod_name), nn.BatchNorm2d) and leaf in ('weight', 'bias')


def init_model(model, gen):
    """Xavier-uniform convs (fans per group), PyTorch-default Linear, non-trivial BN."""
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1]
                fan_in = m.in_channels // m.groups * k
                fan_out = m.out_channels // m.groups * k
                b = math.sqrt(6.0 / (fan_in + fan_out))
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 * b - b)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)            # U(0.5, 1.5)
                m.bias.copy_(torch.rand(c, generator=gen) * 0.4 - 0.2)        # U(-0.2, 0.2)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)     # N(0, 0.1^2)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)       # U(0.5, 1.5)
                m.num_batches_tracked.zero_()
                m.eps, m.momentum = BN_EPS, BN_MOMENTUM
            elif isinstance(m, nn.Linear):
                b = 1.0 / math.sqrt(m.in_features)
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 * b - b)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 2 * b - b)


# ----------------------------------------------------------------------------------------
# tie measurement


def record(model, x, mode):
    """Forward in `mode` ('train'/'eval') without changing any state; return tap records."""
    recs = []
    snap = {k: v.clone() for k, v in model.state_dict().items()}
    model.tap = lambda kind, name, t, bn, off: recs.append((kind, name, t.detach().clone(), bn, off))
    model.train(mode == 'train')
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.tap = None
        model.load_state_dict(snap)
    return recs


def maxpool_gap(t):
    """Min over windows (whose max is > 0) of top1 - top2 of a 3x3/s2 'same' window."""
    pt, pb = same_pad(t.shape[2])
    pl, pr = same_pad(t.shape[3])
    p = F.pad(t, (pl, pr, pt, pb), value=float('-inf'))
    win = p.unfold(2, 3, 2).unfold(3, 3, 2).reshape(-1, 9)
    top = win.topk(2, dim=1).values
    live = top[:, 0] > 0
    if not live.any():
        return float('inf')
    return float((top[live, 0] - top[live, 1]).min())


def margins(recs):
    out = {'relu': float('inf'), 'relu_site': None, 'maxpool': float('inf'),
           'pool_half_zeros': 0, 'pool_half_min_pos': float('inf'), 'relu_count': 0}
    for kind, name, t, _, _ in recs:
        if kind == 'relu':
            m = float(t.abs().min())
            out['relu_count'] += t.numel()
            if m < out['relu']:
                out['relu'], out['relu_site'] = m, name
        elif kind == 'maxpool':
            out['maxpool'] = min(out['maxpool'], maxpool_gap(t))
        elif kind == 'pool_half':
            out['pool_half_zeros'] += int((t == 0).sum())
            pos = t[t > 0]
            if pos.numel():
                out['pool_half_min_pos'] = min(out['pool_half_min_pos'], float(pos.min()))
    return out


def relu_sites(model, x):
    return [(name, bn) for kind, name, _, bn, _ in record(model, x, 'eval') if kind == 'relu']


def site_train_margin(model, name, pre):
    """Margin the beta pick demands of train-mode values at a ReLU site. A branch_main_1
    ReLU whose depthwise output is 1x1 feeds a BatchNorm over only BATCH values per
    channel; a lone small positive value there would give that BN a tiny batch variance
    and amplify float32 rounding ~100x, so such sites get a larger margin."""
    if name.endswith('.branch_main_1'):
        block = model.get_submodule(name[:-len('.branch_main_1')])
        h, w = pre.shape[2], pre.shape[3]
        if block.stride == 2:
            h, w = -(-h // 2), -(-w // 2)
        if h * w == 1:
            return SMALL_BN_MARGIN
    return PICK_MARGIN


def pick_betas(model, x, gen):
    """Walk the ReLU sites in forward order; for each, redraw the feeding BN's beta
    (per channel, from the same U(-0.2, 0.2)) until every pre-activation of that channel,
    in both the train- and the eval-mode forward, is far enough from 0: at least
    PICK_MARGIN (SMALL_BN_MARGIN for train values at 1x1 sites, see site_train_margin) in
    float32 and float64, and at least 1.5 * ERR_RATIO times the observed float32-vs-float64
    difference of that value (so an independent float32 implementation cannot flip it).
    Returns False if some channel cannot be fixed or the stem max pool has a near-tie."""
    m64 = copy.deepcopy(model).double()
    sites = relu_sites(model, x)
    for idx, (name, bn_name) in enumerate(sites):
        bn, bn64 = model.get_submodule(bn_name), m64.get_submodule(bn_name)
        beta = bn.bias.detach().double()
        need = {'train': None, 'eval': PICK_MARGIN}
        vals = {}
        for mode in ('train', 'eval'):
            r32 = [r for r in record(model, x, mode) if r[0] == 'relu'][idx]
            r64 = [r for r in record(m64, x.double(), mode) if r[0] == 'relu'][idx]
            assert r32[1] == name and r64[1] == name
            v32, v64 = r32[2].double(), r64[2]
            if need[mode] is None:
                need[mode] = site_train_margin(model, name, v32)
            # per element: required distance of v64 from 0, and the beta-free parts
            req = torch.clamp((v32 - v64).abs() * (1.5 * ERR_RATIO), min=need[mode])
            vals[mode] = (v32 - beta.view(1, -1, 1, 1), v64 - beta.view(1, -1, 1, 1), req)
        new_beta = bn.bias.detach().clone()
        for c in range(beta.shape[0]):
            parts = []
            for mode in ('train', 'eval'):
                a32, a64, req = vals[mode]
                parts.append((a32[:, c].flatten(), a64[:, c].flatten(), req[:, c].flatten(), need[mode]))

            def ok(b):
                return all(bool(((a64 + b).abs() >= rq).all()) and float((a32 + b).abs().min()) >= nd
                           for a32, a64, rq, nd in parts)
            b = float(new_beta[c])
            tries = 0
            while not ok(b):
                tries += 1
                if tries > BETA_TRIES:
                    return False
                b = float(torch.rand((), generator=gen).float() * 0.4 - 0.2)
            new_beta[c] = b
        with torch.no_grad():
            bn.bias.copy_(new_beta)
            bn64.bias.copy_(new_beta.double())
        if idx == 0:  # stem: check the max pool before spending time on the rest
            for mode in ('train', 'eval'):
                if margins(record(model, x, mode))['maxpool'] < PICK_MARGIN:
                    return False
    return True


def error_aware_check(model, x):
    """Compare float32 and float64 forwards (same float32 weights) at every ReLU site and
    max-pool window: returns the worst ratio |v64| / |v32 - v64| (how many times the
    observed float32 error fits into the distance from the decision boundary) and the
    float64 margins."""
    m64 = copy.deepcopy(model).double()
    out = {}
    for mode in ('train', 'eval'):
        r32, r64 = record(model, x, mode), record(m64, x.double(), mode)
        ratio, err = float('inf'), 0.0
        for a, b in zip(r32, r64):
            assert a[1] == b[1]
            if a[0] == 'relu':
                d = (a[2].double() - b[2]).abs()
                err = max(err, float(d.max()))
                ratio = min(ratio, float((b[2].abs() / d.clamp_min(1e-300)).min()))
                if not bool(((a[2] > 0) == (b[2] > 0)).all()):  # sign flip: reject outright
                    ratio = 0.0
            elif a[0] == 'maxpool':
                def wins(t):
                    pt, pb = same_pad(t.shape[2])
                    pl, pr = same_pad(t.shape[3])
                    p = F.pad(t, (pl, pr, pt, pb), value=float('-inf'))
                    return p.unfold(2, 3, 2).unfold(3, 3, 2).reshape(-1, 9)
                w32, w64 = wins(a[2].double()), wins(b[2])
                live = w64.max(dim=1).values > 0
                if not bool((w32.argmax(dim=1)[live] == w64.argmax(dim=1)[live]).all()):
                    ratio = 0.0  # max-pool argmax differs between float32 and float64
        m = margins(r64)
        out[mode] = {'ratio': ratio, 'max_abs_err': err, 'relu64': m['relu'], 'maxpool64': m['maxpool']}
    return out


# ----------------------------------------------------------------------------------------
# reference computation


def run_reference(model, x, labels, two_steps):
    """Eval forward, train forward+backward, running stats, and with `two_steps` two MindSpore
    Momentum steps. Mutates `model` (BN running stats, grads, weights); the caller keeps the initial state."""
    model.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING, reduction='mean')
    loss.backward()
    res = {'eval.logits': eval_logits.detach().clone(),
           'train.logits': logits.detach().clone(),
           'train.loss': loss.detach().clone().reshape(())}
    for n, p in model.named_parameters():
        res['grad.' + n] = p.grad.detach().clone()
    for n, b in model.named_buffers():
        if n.endswith('running_mean') or n.endswith('running_var'):
            res['train.running.' + n] = b.detach().clone()
    if two_steps:
        res.update(momentum_steps(model, x, labels))
    return res


def momentum_steps(model, x, labels):
    """Two MindSpore Momentum steps from zero momenta (g = grad + wd*w, wd = 0 for BN gamma/beta;
    v = momentum*v + g; w = w - lr*v): step 1 with the gradient already in .grad (at the initial
    weights), step 2 with the train-mode gradient at the weights after step 1. Returns momentum.1.*,
    momentum.2.* (v after each step) and grad2.*; the updates w_k - w_{k-1} are -lr * momentum.k.*,
    so they are not stored (tests/model/parity.test.ts derives them)."""
    res = {}
    v = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for k in (1, 2):
        if k == 2:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), labels, label_smoothing=LABEL_SMOOTHING, reduction='mean').backward()
        with torch.no_grad():
            for n, p in model.named_parameters():
                if k == 2:
                    res['grad2.' + n] = p.grad.detach().clone()
                wd = 0.0 if is_bn_affine(model, n) else WD
                v[n] = MOMENTUM * v[n] + p.grad + wd * p
                p -= LR * v[n]
                res[f'momentum.{k}.' + n] = v[n].clone()
    return res


def rel_l2(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    d = float(torch.linalg.vector_norm(a - b))
    n = float(torch.linalg.vector_norm(b))
    return d / n if n > 0 else d


def sample_input(model, attempt, image):
    """Draw the BATCH images one at a time (N(0,1) pixels), redrawing an image until every
    3x3/s2 max-pool window of its stem-conv output has its top two candidates >= STEM_GAP
    apart. BN (train or eval) is a per-channel increasing affine map and ReLU keeps the
    order of positive values, so this bounds every live max-pool gap in both modes by
    STEM_GAP * gamma / sigma, independent of the other images. The cifar stem has no max
    pool: each image's first draw is kept."""
    imgs = []
    conv = model.first_conv[0]
    for i in range(BATCH):
        for k in range(MAX_IMAGE_TRIES):
            g = torch.Generator().manual_seed(SEED + 1_000_000 * (attempt + 1) + 10_000 * i + k)
            img = torch.randn(1, 3, image, image, generator=g)
            if model.stem != 'imagenet':
                imgs.append(img)
                break
            with torch.no_grad():
                y = conv(img)
            pt, pb = same_pad(y.shape[2])
            pl, pr = same_pad(y.shape[3])
            w = F.pad(y, (pl, pr, pt, pb), value=float('-inf')).unfold(2, 3, 2).unfold(3, 3, 2).reshape(-1, 9)
            top = w.topk(2, dim=1).values
            if float((top[:, 0] - top[:, 1]).min()) >= STEM_GAP:
                imgs.append(img)
                break
        else:
            raise RuntimeError('no image without near-tied max-pool windows')
    return torch.cat(imgs)


def config_tag(size, group, stem):
    return f'{size}_g{group}' + ('' if stem == 'imagenet' else f'_{stem}')


def make_one(size, group, stem, image):
    tag = 'shufflenet_' + config_tag(size, group, stem)
    print(f'=== {tag} ({stem} stem, {image}x{image})')
    torch.manual_seed(SEED)
    base = ShuffleNetV1(n_class=N_CLASS, model_size=size, group=group, stem=stem)
    init_model(base, torch.Generator().manual_seed(SEED + 1))
    labels = torch.randint(0, N_CLASS, (BATCH,), generator=torch.Generator().manual_seed(SEED + 2))

    model = x = None
    for attempt in range(MAX_INPUT_TRIES):
        cand = copy.deepcopy(base)
        xc = sample_input(cand, attempt, image)
        if not pick_betas(cand, xc, torch.Generator().manual_seed(SEED + 5000 + attempt)):
            print(f'  attempt {attempt}: beta pick failed, retrying')
            continue
        mt, me = margins(record(cand, xc, 'train')), margins(record(cand, xc, 'eval'))
        if min(mt['relu'], me['relu'], mt['maxpool'], me['maxpool']) < MARGIN:
            continue
        ec = error_aware_check(cand, xc)
        if min(ec['train']['ratio'], ec['eval']['ratio']) < ERR_RATIO or \
                min(ec[m]['relu64'] for m in ('train', 'eval')) < MARGIN or \
                min(ec[m]['maxpool64'] for m in ('train', 'eval')) < MARGIN:
            print(f'  attempt {attempt}: float32 error too close to a ReLU boundary '
                  f'(ratio {ec["train"]["ratio"]:.1f}/{ec["eval"]["ratio"]:.1f}), retrying')
            continue
        model, x = cand, xc
        break
    assert model is not None, 'no tie-free input found'
    print(f'input attempt {attempt} accepted')
    for mode, m in (('train', mt), ('eval', me)):
        print(f'  {mode:5s}: min |relu input| = {m["relu"]:.3e} at {m["relu_site"]} over {m["relu_count"]} values; '
              f'min max-pool top2 gap = {m["maxpool"]:.3e}; shortcut-pool half: {m["pool_half_zeros"]} exact zeros, '
              f'min positive {m["pool_half_min_pos"]:.3e}')
    assert min(mt['relu'], me['relu'], mt['maxpool'], me['maxpool']) >= MARGIN
    for mode in ('train', 'eval'):
        e = ec[mode]
        print(f'  {mode:5s} float64: min |relu input| {e["relu64"]:.3e}, max-pool gap {e["maxpool64"]:.3e}; '
              f'max |f32-f64| at ReLU inputs {e["max_abs_err"]:.2e}; min |v64|/|v32-v64| {e["ratio"]:.1f}')

    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    two_steps = (size, group, stem) in TWO_STEPS
    res = run_reference(model, x, labels, two_steps)

    # float64 twin from the same float32 initial values
    m64 = ShuffleNetV1(n_class=N_CLASS, model_size=size, group=group, stem=stem).double()
    m64.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in init_state.items()})
    x64 = x.double()
    res64 = run_reference(m64, x64, labels, two_steps)
    sanity = {}
    for key in ('eval.logits', 'train.logits', 'train.loss'):
        sanity[key] = rel_l2(res[key], res64[key])
    zero_grads = [k for k in res if k.startswith('grad.') and k.endswith('branch_main_2.1.bias')]
    zmax = max(float(res[k].abs().max()) for k in zero_grads)
    z64 = max(float(res64[k].abs().max()) for k in zero_grads)
    prefixes = ('grad.', 'train.running.') + (('grad2.', 'momentum.1.', 'momentum.2.') if two_steps else ())
    for prefix in prefixes:
        ks = [k for k in res if k.startswith(prefix)]
        # grad of a BN beta that feeds conv -> train-mode BN is exactly 0 in exact arithmetic (so are
        # its momenta); left out of the per-tensor worst
        per = {k: rel_l2(res[k], res64[k]) for k in ks if not k.endswith('branch_main_2.1.bias')}
        worst = max(per, key=per.get)
        whole = rel_l2(torch.cat([res[k].flatten() for k in ks]), torch.cat([res64[k].flatten() for k in ks]))
        sanity[prefix + '*'] = (whole, per[worst], worst)
    print(f'  {len(zero_grads)} grad.*.branch_main_2.1.bias tensors are analytically 0 (BN beta feeding '
          f'conv -> train-mode BN): max |float32| {zmax:.2e}, max |float64| {z64:.2e}; excluded below')
    print('  float32 vs float64 rel L2:')
    for k, v in sanity.items():
        if isinstance(v, tuple):
            print(f'    {k:18s} all-concat {v[0]:.3e}; worst tensor {v[1]:.3e} ({v[2]})')
        else:
            print(f'    {k:18s} {v:.3e}')

    tensors = {}
    for k, v in init_state.items():
        if not k.endswith('num_batches_tracked'):
            tensors['param.' + k] = v
    tensors['input'] = x
    tensors['labels'] = labels.to(torch.int64)
    # The expected values come from the float64 run (same float32 weights and input), rounded to
    # float32: an independent float32 engine is then compared with the exact answer, not with
    # PyTorch's own float32 rounding, which alone differs from it by up to ~6e-4 per gradient.
    tensors.update({k: v.float() for k, v in res64.items()})
    for k, v in tensors.items():
        if k != 'labels':
            assert v.dtype == torch.float32, k
            assert torch.isfinite(v).all(), k

    meta = {
        'format': 'shufflenet-torch-twin-v1',
        'generator': 'scripts/torch_twin/make_fixtures.py',
        'torch_version': torch.__version__,
        'model_size': size, 'group': str(group), 'n_class': str(N_CLASS),
        'image_size': str(image), 'batch': str(BATCH), 'stem': stem,
        'stem_desc': STEM_DESC[stem],
        'shortcut_pool': 'avgpool3x3 stride 2 same, divides by count of real pixels',
        'channel_shuffle': 'reshape(N,C/g,g,H,W).transpose(1,2): out[j*(C/g)+i] = in[i*g+j]',
        'lr': repr(LR), 'momentum': repr(MOMENTUM), 'weight_decay': repr(WD),
        'weight_decay_excludes': 'BatchNorm weight and bias (classifier bias is decayed)',
        'optimizer': 'MindSpore Momentum from zero state: g=grad+wd*w; v=momentum*v+g; w=w-lr*v',
        'label_smoothing': repr(LABEL_SMOOTHING),
        'loss': 'F.cross_entropy(logits, labels, label_smoothing) mean over batch: '
                '(1-eps)*nll(target) + eps*mean_k(-log p_k)',
        'bn_eps': repr(BN_EPS), 'bn_momentum': repr(BN_MOMENTUM),
        'bn_running_var': 'unbiased batch variance (PyTorch)',
        'reference': 'float64 PyTorch run of the float32 weights and input, rounded to float32',
        'analytically_zero_grads': 'grad.*.branch_main_2.1.bias (rounding noise only; compare with atol)',
        'seed': str(SEED), 'input_attempt': str(attempt),
        'min_relu_margin_train': f'{mt["relu"]:.6e}', 'min_relu_margin_eval': f'{me["relu"]:.6e}',
        'rel_l2_f32_vs_f64_train_logits': f'{sanity["train.logits"]:.3e}',
        'rel_l2_f32_vs_f64_grads': f'{sanity["grad.*"][0]:.3e}',
    }
    if stem == 'imagenet':  # the cifar stem has no max pool
        meta['min_maxpool_gap_train'], meta['min_maxpool_gap_eval'] = f'{mt["maxpool"]:.6e}', f'{me["maxpool"]:.6e}'
    if two_steps:
        meta['two_steps'] = ('momentum.1.*, momentum.2.*: v after steps 1 and 2 (from zero); grad2.*: train-mode '
                             'gradient at the weights after step 1; the update of step k is -lr * momentum.k.*')
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, tag + '.safetensors')
    write_safetensors(path, tensors, meta)

    # read back and compare
    back, meta_back = read_safetensors(path)
    assert meta_back == meta and set(back) == set(tensors)
    for k, v in tensors.items():
        assert np.array_equal(back[k], v.numpy()), k
    print(f'  wrote {os.path.relpath(path, REPO)}: {os.path.getsize(path):,} bytes, {len(tensors)} tensors, '
          f'loss {float(res["train.loss"]):.6f}')


def main():
    known = {config_tag(size, group, stem): (size, group, stem, image) for size, group, stem, image in CONFIGS}
    tags = sys.argv[1:] or list(known)
    bad = [t for t in tags if t not in known]
    if bad:
        sys.exit(f'make_fixtures.py: unknown fixture tag(s) {", ".join(bad)}; valid: {", ".join(known)}')
    _check_pools()
    for t in tags:
        make_one(*known[t])


if __name__ == '__main__':
    main()
