"""Times PyTorch CPU on the training (or inference) step that `npm run bench:train` times for the engine.

The same work per step as train/step_timing.ts: uint8 CIFAR-shaped images (32x32) -> random pad-4 crop,
flip, bilinear resize to --image, normalize -> the twin's ShuffleNetV1 -> label-smoothed cross-entropy
-> backward -> SGD with momentum and weight decay (MindSpore Momentum and torch.optim.SGD agree:
v = m·v + g + wd·w, w -= lr·v; the decay filter does not change the cost). Forward-only cases run the
model in eval mode under no_grad. float32, --threads intra-op threads (2: the cores the engine's CPU
adapter uses on our machines).

Prints one JSON line: {"ms": [per-step wall ms...], "threads": N, "torch": version}.
Run by `npm run bench:train -- --torch`; by hand:
    /usr/bin/python3 scripts/torch_twin/bench_step.py --size 1.0x --group 3 --image 32 --batch 128 --stem imagenet --train
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shufflenet import ShuffleNetV1  # noqa: E402
from train import CIFAR10_MEAN, CIFAR10_STD, CROP_PAD, Normalize, transform  # noqa: E402

NORMALIZE = Normalize(CIFAR10_MEAN, CIFAR10_STD)


def augment(images, size, gen):
    """Pad-4 random crop of each 32x32 image, random flip, bilinear resize to size, normalize (train.py's transform)."""
    n = images.shape[0]
    crops = [tuple(c) for c in torch.randint(0, 2 * CROP_PAD + 1, (n, 2), generator=gen).tolist()]
    flips = torch.rand(n, generator=gen) < 0.5
    return transform(images, CROP_PAD, crops, flips, size, NORMALIZE)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--size', required=True)
    p.add_argument('--group', type=int, required=True)
    p.add_argument('--image', type=int, required=True)
    p.add_argument('--batch', type=int, required=True)
    p.add_argument('--stem', default='imagenet', choices=['imagenet', 'cifar'])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument('--train', action='store_true')
    mode.add_argument('--forward', action='store_true')
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(1)
    model = ShuffleNetV1(n_class=10, model_size=a.size, group=a.group, stem=a.stem)
    images = torch.randint(0, 256, (a.batch, 3, 32, 32), generator=gen, dtype=torch.uint8).numpy()
    labels = torch.randint(0, 10, (a.batch,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-5)
    if a.forward:
        model.eval()

    def step():
        x = augment(images, a.image, gen)
        if a.forward:
            with torch.no_grad():
                return model(x)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)
        (loss * 1024).backward()
        for q in model.parameters():
            q.grad.div_(1024)
        opt.step()
        return loss

    for _ in range(a.warmup):
        out = step()
    if not torch.isfinite(out).all():
        raise SystemExit(f'warm-up steps gave a non-finite result: {out}')
    ms = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'ms': ms, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
