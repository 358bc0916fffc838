"""YOLOX-Nano as a trainable PyTorch network, its weights read from the COCO ``yolox_nano.onnx``.

YOLOX (Ge et al., "YOLOX: Exceeding YOLO Series in 2021", arXiv:2107.08430): a CSPDarknet backbone,
a PAFPN neck and a decoupled, anchor-free head at strides 8/16/32. Nano = depth 0.33, width 0.25,
depthwise convolutions. The layers follow Megvii's ``yolox/models`` (Apache-2.0) one to one.

The ONNX export has BatchNorm folded into each convolution's bias. :func:`load_onnx_weights` copies the
initializers back in execution order, checking every shape, with each BatchNorm set to the identity;
:func:`calibrate_batchnorm` then rescales each convolution to a fresh initialisation's spread and gives
its BatchNorm the matching statistics of real images, without changing the network's function, so that
fine-tuning is as well conditioned as YOLOX's own training (the input is 0-255 BGR: trained as folded,
the first SGD step wrecks the stem). :func:`fold_batchnorm` folds
them back for export. ``tests/test_yolox_torch.py`` checks the outputs against ONNX Runtime. The
inference output is the ONNX contract the SDK decodes (:mod:`vehiclekit.sdk.detector`):
``[B, A, 85]`` = box regression, objectness and 80 class probabilities per anchor point.
"""

from __future__ import annotations

import os

import torch
from torch import nn

#: The COCO class count of the head.
NUM_CLASSES = 80


class BaseConv(nn.Module):
    """Convolution + BatchNorm + SiLU (YOLOX's BatchNorm settings)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DWConv(nn.Sequential):
    """Depthwise ``k x k`` then pointwise ``1 x 1`` convolution."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__(BaseConv(cin, cin, k, stride, groups=cin), BaseConv(cin, cout, 1))


class Bottleneck(nn.Module):
    def __init__(self, channels: int, shortcut: bool):
        super().__init__()
        self.conv1 = BaseConv(channels, channels, 1)
        self.conv2 = DWConv(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.shortcut else y


class CSPLayer(nn.Module):
    """Cross-stage partial block: half the channels through ``n`` bottlenecks, half around them."""

    def __init__(self, cin: int, cout: int, n: int, shortcut: bool = True):
        super().__init__()
        hidden = cout // 2
        self.conv1 = BaseConv(cin, hidden, 1)
        self.conv2 = BaseConv(cin, hidden, 1)
        self.conv3 = BaseConv(2 * hidden, cout, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, shortcut) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.conv1(x), self.conv2(x)
        return self.conv3(torch.cat([self.m(x1), x2], dim=1))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling with max-pools of 5, 9 and 13."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = BaseConv(cin, cin // 2, 1)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))
        self.conv2 = BaseConv(cin // 2 * 4, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.pools], dim=1))


def focus(x: torch.Tensor) -> torch.Tensor:
    """Space-to-depth: the four pixel phases side by side in channels (YOLOX's ``Focus``)."""
    return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1)


class Backbone(nn.Module):
    """CSPDarknet-Nano: stem and four stages; returns the stride-8, 16 and 32 features."""

    def __init__(self):
        super().__init__()
        self.stem = BaseConv(12, 16, 3)
        self.dark2 = nn.Sequential(DWConv(16, 32, 3, 2), CSPLayer(32, 32, 1))
        self.dark3 = nn.Sequential(DWConv(32, 64, 3, 2), CSPLayer(64, 64, 3))
        self.dark4 = nn.Sequential(DWConv(64, 128, 3, 2), CSPLayer(128, 128, 3))
        self.dark5 = nn.Sequential(DWConv(128, 256, 3, 2), SPPBottleneck(256, 256), CSPLayer(256, 256, 1, shortcut=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3 = self.dark3(self.dark2(self.stem(focus(x))))
        c4 = self.dark4(c3)
        return c3, c4, self.dark5(c4)


class PAFPN(nn.Module):
    """Top-down then bottom-up feature pyramid over the backbone's three outputs."""

    def __init__(self):
        super().__init__()
        self.lateral_conv0 = BaseConv(256, 128, 1)
        self.C3_p4 = CSPLayer(256, 128, 1, shortcut=False)
        self.reduce_conv1 = BaseConv(128, 64, 1)
        self.C3_p3 = CSPLayer(128, 64, 1, shortcut=False)
        self.bu_conv2 = DWConv(64, 64, 3, 2)
        self.C3_n3 = CSPLayer(128, 128, 1, shortcut=False)
        self.bu_conv1 = DWConv(128, 128, 3, 2)
        self.C3_n4 = CSPLayer(256, 256, 1, shortcut=False)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, features: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3, c4, c5 = features
        fpn_out0 = self.lateral_conv0(c5)
        f_out0 = self.C3_p4(torch.cat([self.upsample(fpn_out0), c4], dim=1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat([self.upsample(fpn_out1), c3], dim=1))
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], dim=1))
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], dim=1))
        return pan_out2, pan_out1, pan_out0


class HeadLevel(nn.Module):
    """The decoupled head of one stride: a classification branch and a box + objectness branch."""

    def __init__(self, cin: int, num_classes: int, width: int = 64):
        super().__init__()
        self.stem = BaseConv(cin, width, 1)
        self.cls_convs = nn.Sequential(DWConv(width, width, 3), DWConv(width, width, 3))
        self.cls_pred = nn.Conv2d(width, num_classes, 1)
        self.reg_convs = nn.Sequential(DWConv(width, width, 3), DWConv(width, width, 3))
        self.reg_pred = nn.Conv2d(width, 4, 1)
        self.obj_pred = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw ``[B, 5 + C, H, W]``: box regression, objectness logit, class logits."""
        x = self.stem(x)
        cls_out = self.cls_pred(self.cls_convs(x))
        reg_feat = self.reg_convs(x)
        return torch.cat([self.reg_pred(reg_feat), self.obj_pred(reg_feat), cls_out], dim=1)


class YOLOXNano(nn.Module):
    """YOLOX-Nano. ``forward`` returns raw logits ``[B, A, 5 + C]`` (anchor points of strides 8, 16
    and 32 in order, rows then columns) for training; :meth:`predict` applies the sigmoids and is
    what the ONNX export runs."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.backbone = Backbone()
        self.neck = PAFPN()
        self.head = nn.ModuleList(HeadLevel(c, num_classes) for c in (64, 128, 256))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        levels = self.neck(self.backbone(images))
        return torch.cat([head(x).flatten(2) for head, x in zip(self.head, levels)], dim=2).permute(0, 2, 1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        raw = self(images)
        return torch.cat([raw[..., :4], raw[..., 4:].sigmoid()], dim=-1)


class Exportable(nn.Module):
    """The network with :meth:`YOLOXNano.predict` as ``forward``, for ``torch.onnx.export``."""

    def __init__(self, model: YOLOXNano):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.predict(images)


def load_onnx_weights(model: YOLOXNano, onnx_path: str | os.PathLike) -> YOLOXNano:
    """Copy the convolution weights of a YOLOX-Nano ONNX export into ``model``; each BatchNorm becomes
    the identity plus the folded bias.

    The exporter writes convolutions in execution order; the network's convolutions are listed in
    that same order by running it once with hooks, and every pair's shapes must agree."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(os.fspath(onnx_path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    onnx_convs = [node for node in graph.node if node.op_type == "Conv"]
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o: order.append(mod)) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    if len(order) != len(onnx_convs):
        raise ValueError(f"{onnx_path}: {len(onnx_convs)} convolutions, the network has {len(order)}: not a YOLOX-Nano export")
    norms = {id(m.conv): m.bn for m in model.modules() if isinstance(m, BaseConv)}
    with torch.no_grad():
        for conv, node in zip(order, onnx_convs):
            weight, bias = (torch.from_numpy(weights[name].copy()) for name in node.input[1:3])
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{onnx_path}: convolution {node.name or node.output[0]} has weight {tuple(weight.shape)}, "
                                 f"the network expects {tuple(conv.weight.shape)}: not a YOLOX-Nano export")
            conv.weight.copy_(weight)
            bn = norms.get(id(conv))
            if bn is None:
                conv.bias.copy_(bias)
            else:
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
    return model


@torch.no_grad()
def calibrate_batchnorm(model: YOLOXNano, images: torch.Tensor) -> YOLOXNano:
    """Make the loaded network train like one that was never folded, keeping its function in eval mode
    exactly as it was: each convolution's weights rescaled per output channel to the spread of a fresh
    initialisation (RMS 1/sqrt(fan-in)), and its BatchNorm given the statistics the rescaled
    convolution has on ``images``. Behind a BatchNorm a weight's gradient scales with its inverse: left
    at the scale folding gave them (the stem's ~1e-3, for 0-255 input), one SGD step wrecks them."""
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    convs = [m for m in model.modules() if isinstance(m, BaseConv)]
    hooks = [m.conv.register_forward_hook(lambda mod, _i, out: stats.__setitem__(id(mod), (out.mean((0, 2, 3)), out.std((0, 2, 3)))))
             for m in convs]
    model.eval()(images)
    for hook in hooks:
        hook.remove()
    for m in convs:
        mean, spread = stats[id(m.conv)]
        weight = m.conv.weight
        divisor = (weight.flatten(1).pow(2).mean(1).sqrt() * weight[0].numel() ** 0.5).clamp(min=1e-12)
        spread = torch.maximum(spread / divisor, torch.full_like(spread, (2 * m.bn.eps) ** 0.5))  # of the rescaled output
        slope = m.bn.weight / torch.sqrt(m.bn.running_var + m.bn.eps)  # output = slope * (z - running_mean) + bias
        m.bn.bias.add_(slope * (mean - m.bn.running_mean))
        m.bn.weight.copy_(slope * divisor * spread)
        weight.div_(divisor[:, None, None, None])
        m.bn.running_mean.copy_(mean / divisor)
        m.bn.running_var.copy_(spread**2 - m.bn.eps)
    return model


@torch.no_grad()
def fold_batchnorm(model: YOLOXNano) -> YOLOXNano:
    """Fold every BatchNorm into its convolution (as the ONNX export of YOLOX has it), in place."""
    for m in model.modules():
        if isinstance(m, BaseConv) and isinstance(m.bn, nn.BatchNorm2d):
            factor = m.bn.weight / torch.sqrt(m.bn.running_var + m.bn.eps)
            m.conv.weight.mul_(factor[:, None, None, None])
            m.conv.bias = nn.Parameter(m.bn.bias - factor * m.bn.running_mean)
            m.bn = nn.Identity()
    return model
