"""A ResNet-18 image backbone with frozen batch-norm, in torchvision's parameter layout.

No CPU torchvision build exists on our machines, so the network is written here; its state-dict
keys match torchvision's `resnet18`, so ImageNet weights saved by torchvision load from a file.
`width` scales every stage (64 is the real ResNet-18) for CPU-sized models.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from actot.errors import ActotError


class FrozenBatchNorm2d(nn.Module):
    """Batch-norm with fixed statistics and affine parameters (as in DETR and ACT)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        for name, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((channels,), value))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "num_batches_tracked", None)  # torchvision has it; frozen BN does not
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), FrozenBatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18Backbone(nn.Module):
    """ResNet-18 up to layer4; returns the (B, 8 * width, H/32, W/32) feature map."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = [width, width * 2, width * 4, width * 8]
        inplanes = width
        for index, planes in enumerate(channels):
            stride = 1 if index == 0 else 2
            setattr(
                self,
                f"layer{index + 1}",
                nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)),
            )
            inplanes = planes
        self.out_channels = channels[-1]
        for module in self.modules():  # torchvision's ResNet initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_torchvision_weights(self, path: str | Path) -> None:
        """Load a torchvision `resnet18` state dict (the fc layer is ignored)."""
        path = Path(path)
        if not path.is_file():
            raise ActotError(
                f"policy.pretrained_backbone_weights={path}: no such file; give a torchvision resnet18 .pth or null"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ActotError(
                f"{path} is not a resnet18 state dict of width {self.conv1.out_channels}: "
                f"missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
