"""A small CNN for 16x16 digits (MCUNet-style blocks: conv, depthwise-separable, pooling, strided conv, linear).

Layers with parameters, in graph order (the names the update specs use): ``stem`` (conv 3x3 1->8 + ReLU),
``block.dw`` (depthwise 3x3 + ReLU6), ``block.pw`` (pointwise 8->16 + ReLU), ``down`` (conv 3x3 stride 2 pad 1
16->32 + ReLU), ``head`` (pointwise 32->32 + ReLU), ``fc`` (linear 32->10). Input NCHW (1, 1, 16, 16).

No BatchNorm: odl folds BN into the conv before training, and a folded conv trained by SGD is not the same
optimisation problem as torch's conv + frozen BN; without BN the PyTorch baseline trains exactly the parameters
odl trains.
"""

from __future__ import annotations

import torch
import torch.nn as nn

INPUT_SHAPE = (1, 1, 16, 16)
LAYERS = ("stem", "block.dw", "block.pw", "down", "head", "fc")


class Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pw = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return torch.relu(self.pw(nn.functional.relu6(self.dw(x))))


class DigitsCNN(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        w = width
        self.stem = nn.Conv2d(1, w, 3, padding=1)
        self.block = Block(w, 2 * w)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
        self.head = nn.Conv2d(4 * w, 4 * w, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, 10)
        for m in self.modules():  # He init: without BN, torch's default init shrinks the signal layer by layer
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.pool(self.block(torch.relu(self.stem(x))))
        x = torch.relu(self.head(torch.relu(self.down(x))))
        return self.fc(torch.flatten(self.gap(x), 1))


def build(seed: int = 0, width: int = 8) -> DigitsCNN:
    torch.manual_seed(seed)
    return DigitsCNN(width)
