"""How far are our f16 gradients from exact, and how far should they be?

For each configuration, scripts/torch_twin/engine_grads.ts runs our engine (train and eval mode, f32 and
f16 activations, loss scale S) and writes its weights, input, logits, loss, parameter gradients and the activations and
activation gradients at the unit outputs. This script recomputes them in PyTorch and compares, per
parameter-gradient tensor, against a float64 run (same float32 weights and input):
  (a)   our engine, f16 activations
  (b)   the f16 twin: float32 compute that rounds every tensor our engine stores in f16 (the input,
        each conv / BN / pool / join / linear output, and each gradient an op's backward writes,
        including the f16 sum of two gradients of one tensor) to f16 at the same points; weights and
        weight gradients stay f32, and the loss scale is applied before dlogits is rounded
  (b64) the same rounding points with float64 compute (another valid f16 implementation)
  (c)   plain PyTorch float32
  (e32) our engine, f32 activations
If (a) is about as far from float64 as (b) and (b64) are, the error is what f16 storage costs.

Run from the repo root (engine outputs for GL; for Vulkan prefix the node command with
scripts/vulkan_root.sh and write under the repo, e.g. .cache/, which is all its chroot sees):
  node --import tsx scripts/torch_twin/engine_grads.ts --size 0.5x --group 3 --image 32 --batch 8 --out /tmp/g3.safetensors
  /usr/bin/python3 scripts/torch_twin/f16_twin.py /tmp/g3.safetensors [--layers] [--vs OTHER.safetensors]
--run DIR runs the three standard configurations through the engine first (GL, or Vulkan with --vulkan,
DIR then under the repo).
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
import shufflenet  # noqa: E402
from shufflenet import ShuffleNetV1, avgpool_same, channel_shuffle, maxpool_same  # noqa: E402
from make_fixtures import read_safetensors  # noqa: E402

torch.set_num_threads(1)

CONFIGS = [('0.5x', 3, 32, 8), ('0.5x', 8, 36, 4), ('1.5x', 4, 64, 2)]

# ShuffleNet Table 1 stage-2 widths at 1.0x and Megvii's stems, for model/architecture.ts's derived rule
_STAGE2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
_STEM = {'0.5x': 12, '1.0x': 24, '1.5x': 24, '2.0x': 48}
_FACTOR = {'0.5x': 0.5, '1.0x': 1.0, '1.5x': 1.5, '2.0x': 2.0}


def derived_channels(size, group):
    """model/architecture.ts derivedChannels: stages rounded to multiples of 4g, stem raised until
    stage2 - stem divides by g."""
    q = 4 * group
    stages = [max(q, int(_STAGE2[group] * m * _FACTOR[size] / q + 0.5) * q) for m in (1, 2, 4)]
    c1 = _STEM[size]
    while (stages[0] - c1) % group:
        c1 += 1
    return (c1, *stages)


def make_model(size, group):
    shufflenet.CHANNELS.setdefault(group, {}).setdefault(size, derived_channels(size, group))
    return ShuffleNetV1(n_class=10, model_size=size, group=group, stem='imagenet')


# ---------------------------------------------------------------------------------------------
# f16 storage points


class Points:
    """What the storage points do; --attribution switches parts off, or replaces rounding by noise."""
    fwd = True     # round stored activations
    bwd = True     # round stored gradients
    noise = 0.0    # instead: multiply each stored activation by (1 + noise·N(0, 1)), no rounding
    gen = torch.Generator().manual_seed(0)


def _half(t):
    return t.half().to(t.dtype)


class _Store(torch.autograd.Function):
    """A tensor an op stores in f16: the value is rounded, and so is the (summed) gradient it receives."""
    @staticmethod
    def forward(ctx, x):
        if Points.noise:
            return x * (1 + Points.noise * torch.randn(x.shape, generator=Points.gen, dtype=x.dtype))
        return _half(x) if Points.fwd else x.clone()

    @staticmethod
    def backward(ctx, g):
        return _half(g) if Points.bwd and not Points.noise else g


class _GradStore(torch.autograd.Function):
    """An op's input edge: the gradient its backward writes for that input is stored in f16."""
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return _half(g) if Points.bwd and not Points.noise else g


def forward(model, x, f16):
    """Train-mode forward in the engine's op order (model/shufflenet.ts): fused BN+ReLU, the shuffle
    read by the depthwise conv, relu(bn3(main) + x) in one pass and relu(cat(avgpool(x), bn3(main))). With f16, st() marks
    each stored output and ld() each input edge. Returns (logits, {tap: stored tensor})."""
    st = _Store.apply if f16 else (lambda t: t)
    ld = _GradStore.apply if f16 else (lambda t: t)
    taps = {}

    def tap(name, t):
        t.retain_grad()
        taps[name] = t
        return t

    c0, bn0 = model.first_conv[0], model.first_conv[1]
    h = st(c0(st(x)))
    h = F.relu(st(bn0(ld(h))))
    h = tap('stem', st(maxpool_same(ld(h))))
    for i, b in enumerate(model.features):
        conv1, bn1 = b.branch_main_1[0], b.branch_main_1[1]
        dw, bn2, conv2, bn3 = b.branch_main_2
        m = st(conv1(ld(h)))
        m = F.relu(st(bn1(ld(m))))
        if b.group > 1:
            m = channel_shuffle(m, b.group)
        m = st(dw(ld(m)))
        m = st(bn2(ld(m)))
        m = st(conv2(ld(m)))
        if b.stride == 1:
            # bn3 adds the residual and applies the ReLU in its own pass: its output is not stored
            h = st(F.relu(bn3(ld(m)) + ld(h)))
        else:
            m = st(bn3(ld(m)))
            p = st(avgpool_same(ld(h)))
            h = st(F.relu(torch.cat([ld(p), ld(m)], dim=1)))
        h = tap(f'features.{i}', h)
    pooled = tap('pool', st(ld(h).mean(dim=(2, 3))))
    logits = tap('logits', st(model.classifier(ld(pooled))))
    return logits, taps


def run(state, x, labels, size, group, dtype, f16, scale, train=True):
    """One forward (train or eval mode) + backward of loss·scale from `state`; gradients divided by scale."""
    model = make_model(size, group).to(dtype)
    missing, unexpected = model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=False)
    assert not unexpected and all(k.endswith('num_batches_tracked') for k in missing), (missing, unexpected)
    model.train(train)
    logits, taps = forward(model, x.to(dtype), f16)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward(torch.tensor(float(scale), dtype=dtype))
    r = {'logits': logits.detach(), 'loss': loss.detach().reshape(())}
    for n, p in model.named_parameters():
        r['grad.' + n] = p.grad.detach() / scale
    for n, t in taps.items():
        r['act.' + n] = t.detach()
        g = t.grad.detach()
        r['dact.' + n] = (g.half().to(dtype) if f16 else g) / scale  # the engine stores the summed gradient
    return r


# ---------------------------------------------------------------------------------------------


def rel(a, b):
    a = torch.as_tensor(a).double().flatten()
    b = torch.as_tensor(b).double().flatten()
    n = float(torch.linalg.vector_norm(b))
    d = float(torch.linalg.vector_norm(a - b))
    return d / n if n > 0 else d


def zero_grad_name(n):
    # BN beta feeding conv -> train-mode BN: its gradient is exactly 0, only rounding noise remains
    return n.endswith('branch_main_2.1.bias')


def layer_of(n):
    parts = n.split('.')
    return '.'.join(parts[:2]) if parts[0] == 'features' else parts[0]


def load_engine(path):
    t, meta = read_safetensors(path)
    state = {k[len('param.'):]: torch.from_numpy(v.copy()) for k, v in t.items() if k.startswith('param.')}
    eng = {}
    for mode in ('train', 'eval'):
        for dt in ('f32', 'f16'):
            pre = f'{mode}.{dt}.'
            eng[mode, dt] = {k[len(pre):]: torch.from_numpy(v.copy()) for k, v in t.items() if k.startswith(pre)}
    return state, torch.from_numpy(t['input'].copy()), torch.from_numpy(t['labels'].copy()), eng, meta


def analyse(path, mode, layers=False, vs=None):
    state, x, labels, eng, meta = load_engine(path)
    size, group, S = meta['size'], int(meta['group']), float(meta['scale'])
    tag = f"{size} g={group} {meta['image']}² b{meta['batch']}"
    train = mode == 'train'
    ref = run(state, x, labels, size, group, torch.float64, False, S, train)
    runs = {
        'a': eng[mode, 'f16'],
        'b': run(state, x, labels, size, group, torch.float32, True, S, train),
        'b64': run(state, x, labels, size, group, torch.float64, True, S, train),
        'c': run(state, x, labels, size, group, torch.float32, False, S, train),
        'e32': eng[mode, 'f32'],
    }
    if vs:
        runs['a2'] = load_engine(vs)[3][mode, 'f16']
    names = [k for k in ref if k.startswith('grad.')]
    # train mode: grad(branch_main_2.1.bias) is 0 in exact arithmetic (see README.md), only noise is left
    live = [k for k in names if not (train and zero_grad_name(k))]
    print(f'\n=== {tag}, {mode} mode ({meta["adapter"].split(" [")[0]}, f16 {meta["f16_storage"]}; loss scale {S:g}; '
          f'{len(live)} gradient tensors{", 16 analytically-zero BN-beta ones left out" if train else ""})')
    print(f'{"run":5s} {"logits":>9s} {"loss":>9s} | grad rel-L2 vs float64: {"median":>9s} {"p90":>9s} {"worst":>9s}  worst tensor')
    summary = {}
    for key, r in runs.items():
        per = np.array([rel(r[k], ref[k]) for k in live])
        w = int(per.argmax())
        summary[key] = per
        print(f'{key:5s} {rel(r["logits"], ref["logits"]):9.2e} {rel(r["loss"], ref["loss"]):9.2e} | '
              f'{"":23s} {np.median(per):9.2e} {np.percentile(per, 90):9.2e} {per.max():9.2e}  {live[w][5:]}')
    ab = np.array([rel(runs['a'][k], runs['b'][k]) for k in live])
    bb = np.array([rel(runs['b64'][k], runs['b'][k]) for k in live])
    print(f'a vs b   (engine vs twin):       median {np.median(ab):.2e} p90 {np.percentile(ab, 90):.2e} worst {ab.max():.2e}')
    print(f'b64 vs b (twin, f64 vs f32 math): median {np.median(bb):.2e} p90 {np.percentile(bb, 90):.2e} worst {bb.max():.2e}')
    if vs:
        aa = np.array([rel(runs['a2'][k], runs['a'][k]) for k in live])
        print(f'a2 vs a  ({vs}): median {np.median(aa):.2e} p90 {np.percentile(aa, 90):.2e} worst {aa.max():.2e}; '
              f'logits {rel(runs["a2"]["logits"], runs["a"]["logits"]):.2e}')
    if train:
        zmax = {key: max(float(r[k].abs().max()) for k in names if zero_grad_name(k)) for key, r in runs.items()}
        print('analytically-zero grads, max |g|: ' + ', '.join(f'{k} {v:.1e}' for k, v in zmax.items()))

    # per layer: median grad rel-L2 over the layer's tensors, and the activation gradient at its output
    print(f'\n{"layer":12s} {"grad a":>8s} {"grad b":>8s} {"b64":>8s} {"c":>8s} {"a vs b":>8s} | '
          f'{"dact a":>8s} {"dact b":>8s} {"b64":>8s} {"a vs b":>8s} | {"act a":>8s} {"act b":>8s}')
    order = list(dict.fromkeys(layer_of(k[5:]) for k in live))
    tapname = {'first_conv': 'stem', 'classifier': 'logits'}
    for L in order:
        ks = [k for k in live if layer_of(k[5:]) == L]
        med = lambda a, b: float(np.median([rel(a[k], b[k]) for k in ks]))  # noqa: E731
        t = tapname.get(L, L)
        row = f'{L:12s} {med(runs["a"], ref):8.1e} {med(runs["b"], ref):8.1e} {med(runs["b64"], ref):8.1e} ' \
              f'{med(runs["c"], ref):8.1e} {med(runs["a"], runs["b"]):8.1e} | '
        da, dr = 'dact.' + t, 'act.' + t
        row += f'{rel(runs["a"][da], ref[da]):8.1e} {rel(runs["b"][da], ref[da]):8.1e} {rel(runs["b64"][da], ref[da]):8.1e} ' \
               f'{rel(runs["a"][da], runs["b"][da]):8.1e} | {rel(runs["a"][dr], ref[dr]):8.1e} {rel(runs["b"][dr], ref[dr]):8.1e}'
        print(row)
        if layers:
            for k in ks:
                print(f'    {k[5:]:40s} a {rel(runs["a"][k], ref[k]):8.1e}  b {rel(runs["b"][k], ref[k]):8.1e}  '
                      f'b64 {rel(runs["b64"][k], ref[k]):8.1e}  a-b {rel(runs["a"][k], runs["b"][k]):8.1e}')
    return f'{tag} {mode}', summary, ab


def fixture(path, scale=1024.0):
    """The twin on a test fixture (tests/fixtures/*.safetensors): bounds for tests/model/f16.test.ts.
    Train mode against the fixture's float64 values; eval mode (BN on the running statistics: no batch
    statistics, so forward rounding is not amplified through them) against our own float64 run."""
    t, meta = read_safetensors(path)
    state = {k[len('param.'):]: torch.from_numpy(v.copy()) for k, v in t.items() if k.startswith('param.')}
    x, labels = torch.from_numpy(t['input'].copy()), torch.from_numpy(t['labels'].copy())
    size, group = meta['model_size'], int(meta['group'])
    ref = {k: torch.from_numpy(v.copy()) for k, v in t.items()}
    names = sorted(k for k in ref if k.startswith('grad.') and not zero_grad_name(k))
    print(f'\n=== fixture {os.path.relpath(path, REPO)} (loss scale {scale:g}): rel-L2 vs its float64 values')
    print(f'{"run":5s} {"logits":>9s} {"loss":>9s} {"grads all":>9s} | per tensor: {"median":>9s} {"p90":>9s} {"worst":>9s}  worst tensor')
    for key, dt, f16 in (('b', torch.float32, True), ('b64', torch.float64, True), ('c', torch.float32, False)):
        r = run(state, x, labels, size, group, dt, f16, scale)
        per = np.array([rel(r[k], ref[k]) for k in names])
        whole = rel(torch.cat([r[k].flatten() for k in names]), torch.cat([ref[k].flatten() for k in names]))
        print(f'{key:5s} {rel(r["logits"], ref["train.logits"]):9.2e} {rel(r["loss"], ref["train.loss"]):9.2e} {whole:9.2e} | '
              f'{"":11s} {np.median(per):9.2e} {np.percentile(per, 90):9.2e} {per.max():9.2e}  {names[int(per.argmax())][5:]}'
              f'; analytically-zero grads max |g| {max(float(r[k].abs().max()) for k in r if zero_grad_name(k)):.1e}')
    ev = run(state, x, labels, size, group, torch.float64, False, scale, train=False)
    assert rel(ev['logits'], ref['eval.logits']) < 1e-6
    names = sorted(k for k in ref if k.startswith('grad.'))  # none is 0 in eval mode
    print('eval mode, against float64 (all gradient tensors):')
    for key, dt, f16 in (('b', torch.float32, True), ('b64', torch.float64, True), ('c', torch.float32, False)):
        r = run(state, x, labels, size, group, dt, f16, scale, train=False)
        per = np.array([rel(r[k], ev[k]) for k in names])
        whole = rel(torch.cat([r[k].flatten() for k in names]), torch.cat([ev[k].flatten() for k in names]))
        print(f'{key:5s} {rel(r["logits"], ev["logits"]):9.2e} {rel(r["loss"], ev["loss"]):9.2e} {whole:9.2e} | '
              f'{"":11s} {np.median(per):9.2e} {np.percentile(per, 90):9.2e} {per.max():9.2e}  {names[int(per.argmax())][5:]}')


def attribution(path):
    """Where the train-mode error comes from: the twin with only activations or only gradients rounded,
    and float64 with relative noise instead of rounding (how gradients respond to forward perturbations)."""
    state, x, labels, _, meta = load_engine(path)
    size, group, S = meta['size'], int(meta['group']), float(meta['scale'])
    print(f"\n=== attribution, {size} g={group} {meta['image']}² b{meta['batch']}: rel-L2 vs float64")
    for train in (True, False):
        ref = run(state, x, labels, size, group, torch.float64, False, S, train)
        live = [k for k in ref if k.startswith('grad.') and not (train and zero_grad_name(k))]
        cases = [('f16 activations and gradients', torch.float32, 1, 1, 0), ('f16 activations only', torch.float32, 1, 0, 0),
                 ('f16 gradients only', torch.float32, 0, 1, 0)] + \
                [(f'float64, activation noise {e:.0e}', torch.float64, 0, 0, e) for e in (1e-4, 1e-6, 1e-8)]
        for label, dt, Points.fwd, Points.bwd, Points.noise in cases:
            r = run(state, x, labels, size, group, dt, True, S, train)
            per = np.array([rel(r[k], ref[k]) for k in live])
            print(f'{"train" if train else "eval ":5s} {label:34s} logits {rel(r["logits"], ref["logits"]):8.1e}  grads median '
                  f'{np.median(per):8.1e} p90 {np.percentile(per, 90):8.1e} worst {per.max():8.1e}')
        Points.fwd, Points.bwd, Points.noise = True, True, 0.0


def engine_run(size, group, image, batch, out, vulkan):
    cmd = ['node', '--import', 'tsx', 'scripts/torch_twin/engine_grads.ts', '--size', size, '--group', str(group),
           '--image', str(image), '--batch', str(batch), '--out', out]
    if vulkan:
        cmd = ['scripts/vulkan_root.sh'] + cmd
    subprocess.run(cmd, cwd=REPO, check=True, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('files', nargs='*', help="engine_grads.ts outputs")
    ap.add_argument('--run', metavar='DIR', help='first run the standard configurations through the engine into DIR')
    ap.add_argument('--vulkan', action='store_true', help='with --run: on Vulkan (scripts/vulkan_root.sh)')
    ap.add_argument('--vs', metavar='FILE', help='(one file) also compare its f16 gradients with this run of the same config')
    ap.add_argument('--layers', action='store_true', help='print every gradient tensor')
    ap.add_argument('--fixtures', action='store_true', help='the twin on tests/fixtures/*.safetensors (no engine run)')
    ap.add_argument('--attribution', action='store_true', help='(per file) the error with only activations or only gradients rounded, and under noise')
    a = ap.parse_args()
    if a.fixtures:
        for tag in ('0.5x_g3', '0.5x_g8'):
            fixture(os.path.join(REPO, 'tests', 'fixtures', f'shufflenet_{tag}.safetensors'))
    files = list(a.files)
    if a.run:
        os.makedirs(a.run, exist_ok=True)
        for size, group, image, batch in CONFIGS:
            f = os.path.join(a.run, f'{size}_g{group}_{image}_b{batch}.safetensors')
            engine_run(size, group, image, batch, f, a.vulkan)
            files.append(f)
    if a.attribution:
        for f in files:
            attribution(f)
        return
    rows = [analyse(f, mode, a.layers, a.vs) for mode in ('train', 'eval') for f in files]
    print('\nparameter-gradient rel-L2 vs float64 (median / p90 / worst over tensors):')
    cols = ('a', 'b', 'b64', 'c', 'e32')
    print(f'{"config":28s} ' + ' '.join(f'{k:>26s}' for k in ('a engine f16', 'b twin f16', 'b64 twin f16 (f64 math)', 'c torch f32', 'e32 engine f32')))
    for tag, s, _ in rows:
        cells = ' '.join(f'{np.median(s[k]):8.1e}/{np.percentile(s[k], 90):8.1e}/{s[k].max():8.1e}' for k in cols)
        print(f'{tag:28s} {cells}')


if __name__ == '__main__':
    main()
