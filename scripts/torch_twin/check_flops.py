"""Parameter counts and multiply-adds of the ShuffleNetV1 twin at 224x224, 1000 classes.

Run: /usr/bin/python3 scripts/torch_twin/check_flops.py
MACs = conv + linear multiply-adds for one image (BN, ReLU, pooling, adds not counted),
the convention of the ShuffleNet paper's "FLOPs" column.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch.nn as nn  # noqa: E402

from shufflenet import ShuffleNetV1, count_macs  # noqa: E402

CONFIGS = [(s, 3) for s in ('0.5x', '1.0x', '1.5x', '2.0x')] + \
          [(s, 8) for s in ('0.5x', '1.0x', '1.5x', '2.0x')] + \
          [('1.0x', g) for g in (1, 2, 4)]


def main():
    hdr = (f"{'size':>5} {'g':>2} {'params':>10} {'non-BN':>10} {'bn affine':>9} "
           f"{'bn buffers':>10} {'conv MACs':>12} {'fc MACs':>9} {'total MACs':>12} {'MMACs':>8}")
    print(hdr)
    print('-' * len(hdr))
    for size, g in CONFIGS:
        m = ShuffleNetV1(n_class=1000, model_size=size, group=g)
        params = sum(p.numel() for p in m.parameters())
        bn_aff = sum(p.numel() for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)
                     for p in mod.parameters())
        bn_buf = sum(mod.running_mean.numel() + mod.running_var.numel()
                     for mod in m.modules() if isinstance(mod, nn.BatchNorm2d))
        conv, lin = count_macs(m, 224)
        print(f'{size:>5} {g:>2} {params:>10,} {params - bn_aff:>10,} {bn_aff:>9,} {bn_buf:>10,} '
              f'{conv:>12,} {lin:>9,} {conv + lin:>12,} {(conv + lin) / 1e6:>8.2f}')


if __name__ == '__main__':
    main()
