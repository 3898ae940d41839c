"""PyTorch twin of the project's ShuffleNetV1 (MindSpore-tutorial flavour).

Differences from Megvii's reference code, on purpose:
  * max pool / shortcut avg pool use MindSpore pad_mode='same' (asymmetric padding,
    smaller half at top/left); the avg pool divides by the number of REAL pixels.
  * stride-2 blocks apply ReLU to the whole concatenation: relu(cat(avgpool(x), main)).
  * head: adaptive global average pool + Linear(c4, n_class) named `classifier`.

state_dict names: first_conv.{0,1}.*, features.N.branch_main_1.{0,1}.*,
features.N.branch_main_2.{0,1,2,3}.*, classifier.{weight,bias}.

A model can record its ReLU pre-activations / max-pool input through `model.tap`
(a callable or None), which the fixture generator uses to measure tie margins.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

STAGE_REPEATS = [4, 8, 4]

# (c1, stage2, stage3, stage4)
CHANNELS = {
    3: {'0.5x': (12, 120, 240, 480), '1.0x': (24, 240, 480, 960),
        '1.5x': (24, 360, 720, 1440), '2.0x': (48, 480, 960, 1920)},
    8: {'0.5x': (16, 192, 384, 768), '1.0x': (24, 384, 768, 1536),
        '1.5x': (24, 576, 1152, 2304), '2.0x': (48, 768, 1536, 3072)},
    # g=1,2,4 only at 1.0x (the paper's Table 1); other sizes are deliberately unsupported.
    1: {'1.0x': (24, 144, 288, 576)},
    2: {'1.0x': (24, 200, 400, 800)},
    4: {'1.0x': (24, 272, 544, 1088)},
}


def channels_for(model_size, group):
    if group not in CHANNELS or model_size not in CHANNELS[group]:
        raise NotImplementedError(f'no channel table for model_size={model_size} group={group}')
    return CHANNELS[group][model_size]


def same_pad(size, k=3, s=2):
    """MindSpore pad_mode='same': out = ceil(in/s); returns (pad_before, pad_after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    before = total // 2
    return before, total - before


def _pad_same(x, value):
    pt, pb = same_pad(x.shape[2])
    pl, pr = same_pad(x.shape[3])
    return F.pad(x, (pl, pr, pt, pb), value=value)


def maxpool_same(x):
    """3x3 stride-2 max pool, 'same' padding with -inf (padding never wins)."""
    return F.max_pool2d(_pad_same(x, float('-inf')), 3, 2)


def avgpool_same(x):
    """3x3 stride-2 avg pool, 'same' padding, divides by the count of real pixels."""
    s = F.avg_pool2d(_pad_same(x, 0.0), 3, 2, divisor_override=1)
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
    cnt = F.avg_pool2d(_pad_same(ones, 0.0), 3, 2, divisor_override=1)
    return s / cnt


def channel_shuffle(x, g):
    """Output channel j*(C/g)+i takes input channel i*g+j."""
    n, c, h, w = x.shape
    assert c % g == 0
    return x.reshape(n, c // g, g, h, w).transpose(1, 2).reshape(n, c, h, w)


def _check_shuffle():
    for c, g in [(12, 3), (48, 8), (30, 3), (6, 2)]:
        x = torch.arange(c, dtype=torch.float64).reshape(1, c, 1, 1)
        y = channel_shuffle(x, g).flatten().tolist()
        for i in range(c // g):
            for j in range(g):
                assert y[j * (c // g) + i] == i * g + j, (c, g, i, j)


_check_shuffle()


class Block(nn.Module):
    def __init__(self, inp, oup, group, first_group, mid, stride):
        super().__init__()
        assert stride in (1, 2)
        self.stride = stride
        self.group = group
        outputs = oup - inp if stride == 2 else oup
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, groups=1 if first_group else group, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=False),
        )
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.Conv2d(mid, outputs, 1, 1, 0, groups=group, bias=False),
            nn.BatchNorm2d(outputs),
        )
        self.tap = None
        self.name = ''

    def forward(self, x):
        m = self.branch_main_1[1](self.branch_main_1[0](x))
        if self.tap is not None:
            self.tap('relu', self.name + '.branch_main_1', m, self.name + '.branch_main_1.1', 0)
        m = F.relu(m)
        if self.group > 1:
            m = channel_shuffle(m, self.group)
        m = self.branch_main_2(m)
        if self.stride == 1:
            pre = x + m
            if self.tap is not None:
                self.tap('relu', self.name + '.out', pre, self.name + '.branch_main_2.3', 0)
            return F.relu(pre)
        p = avgpool_same(x)
        pre = torch.cat([p, m], dim=1)
        if self.tap is not None:
            self.tap('pool_half', self.name + '.proj', p, None, None)
            # only the main half carries a sign decision: the pooled half is an average of
            # ReLU outputs (>= 0), so ReLU is the identity there.
            self.tap('relu', self.name + '.out', m, self.name + '.branch_main_2.3', 0)
        return F.relu(pre)


class ShuffleNetV1(nn.Module):
    def __init__(self, n_class=1000, model_size='1.0x', group=3, stem='imagenet'):
        super().__init__()
        assert stem in ('imagenet', 'cifar')
        self.model_size, self.group, self.stem = model_size, group, stem
        c1, *stages = channels_for(model_size, group)
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, c1, 3, 2 if stem == 'imagenet' else 1, 1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(inplace=False),
        )
        blocks = []
        inp = c1
        for s, (reps, oup) in enumerate(zip(STAGE_REPEATS, stages)):
            for i in range(reps):
                stride = 2 if i == 0 else 1
                first_group = s == 0 and i == 0
                blocks.append(Block(inp, oup, group, first_group, oup // 4, stride))
                inp = oup
        self.features = nn.Sequential(*blocks)
        for i, b in enumerate(self.features):
            b.name = f'features.{i}'
        self.classifier = nn.Linear(stages[-1], n_class, bias=True)
        self._tap = None

    @property
    def tap(self):
        return self._tap

    @tap.setter
    def tap(self, fn):
        self._tap = fn
        for b in self.features:
            b.tap = fn

    def forward(self, x):
        x = self.first_conv[1](self.first_conv[0](x))
        if self._tap is not None:
            self._tap('relu', 'first_conv', x, 'first_conv.1', 0)
        x = F.relu(x)
        if self.stem == 'imagenet':
            if self._tap is not None:
                self._tap('maxpool', 'maxpool', x, None, None)
            x = maxpool_same(x)
        x = self.features(x)
        x = x.mean(dim=(2, 3))
        return self.classifier(x)


def count_macs(model, image_size=224):
    """(conv MACs, linear MACs) for one image, via forward hooks."""
    macs = {'conv': 0, 'linear': 0}

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        macs['conv'] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * k

    def lin_hook(m, inp, out):
        macs['linear'] += m.in_features * m.out_features

    hs = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hs.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hs.append(m.register_forward_hook(lin_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    model.train(was_training)
    for h in hs:
        h.remove()
    return macs['conv'], macs['linear']


if __name__ == '__main__':
    m = ShuffleNetV1(10, '0.5x', 3)
    print(m(torch.randn(2, 3, 32, 32)).shape)
    for k, v in m.state_dict().items():
        print(k, tuple(v.shape))
