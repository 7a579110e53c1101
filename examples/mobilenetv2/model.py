"""MobileNetV2 (width 0.35, 128x128 input) in plain PyTorch, for the MCUNet-class memory table.

The standard architecture (Sandler et al. 2018; torchvision's layout): a 3x3 stride-2 stem, 17 inverted residual
blocks (expand 1x1 + BN + ReLU6, depthwise 3x3 + BN + ReLU6, project 1x1 + BN, residual add when the shape allows),
a 1x1 conv to 1280 channels + BN + ReLU6, global average pool, linear. Channels are ``make_divisible(c * width, 8)``;
the last conv keeps 1280 channels for width < 1 (as torchvision). Random weights (memory does not depend on them).

Layer names as odl's frontend sees them: ``features.0.0`` (stem), ``features.<i>.conv.<j>`` inside block i,
``features.18.0`` (last 1x1), ``classifier.1`` (linear).
"""

from __future__ import annotations

import torch
import torch.nn as nn

# t (expansion), c (channels), n (repeats), s (stride of the first repeat)
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += list(conv_bn(cin, hidden, 1))
        layers += list(conv_bn(hidden, hidden, 3, stride, groups=hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, width: float = 0.35, num_classes: int = 10, last_channel: int = 1280):
        super().__init__()
        cin = make_divisible(32 * width)
        feats: list[nn.Module] = [conv_bn(3, cin, 3, stride=2)]
        for t, c, n, s in SETTINGS:
            cout = make_divisible(c * width)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        last = make_divisible(last_channel * max(1.0, width))
        feats.append(conv_bn(cin, last, 1))
        self.features = nn.Sequential(*feats)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def build(seed: int = 0, width: float = 0.35, num_classes: int = 10) -> MobileNetV2:
    """A MobileNetV2 with random weights and randomised BN statistics (so folding is not trivial), eval mode."""
    torch.manual_seed(seed)
    net = MobileNetV2(width, num_classes)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()
