"""ShuffleNetV2 with FReLU, as the official FunnelAct ShuffleNetV2 (the paper's second backbone).

Structure of megvii-model/FunnelAct ``shufflenetv2/shufflenet_v2.py``: a 3x3/2 conv
stem with BN and FReLU, a 3x3/2 max-pool, three stages of ShuffleV2 blocks (4, 8, 4),
a 1x1 ``conv_last`` with BN and FReLU. FReLU follows the two 1x1 convs of each main
branch and the 1x1 conv of each projection branch; the depthwise convs have none.
The official activation is the *light* FReLU: ``max(x, BN(dw1x3(x)) + BN(dw3x1(x)))``,
here ``FReLU(condition='factorized_sum')``. Module names follow the official ones
(``first_conv``, ``features``, ``branch_main``, ``branch_proj``, ``conv_last``), so
the official weights map one to one (``tools/convert_funnelact.py``).

Importing this module registers ``ShuffleNetV2FReLU`` in mmengine's root ``MODELS``.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from .activation_sites import build_site_activation

LIGHT_FRELU = dict(type='FReLU', condition='factorized_sum')
STAGE_REPEATS = (4, 8, 4)


def channel_split_shuffled(x: torch.Tensor):
    """Split channels into (even, odd): the official ``channel_shuffle`` of a
    stride-1 block (shuffle by 2, then halve)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // 2, 2, h, w)
    return x[:, :, 0], x[:, :, 1]


class ShuffleV2BlockFReLU(nn.Module):
    """One ShuffleV2 block with an activation after each non-depthwise conv.

    Args:
        in_channels (int): the block's input width for stride 2; half of it for
            stride 1 (the width of the branch that is processed), as officially.
        out_channels (int): the block's output width.
        mid_channels (int): the main branch's width.
        stride (int): 1 or 2.
        act_cfg (dict): activation after the 1x1 convs (light FReLU by default).
        norm_cfg (dict): norm after each conv.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, stride: int,
                 act_cfg: dict = LIGHT_FRELU, norm_cfg: dict = dict(type='BN')):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride}')
        self.stride = stride
        branch_out = out_channels - in_channels

        def norm(c):
            return build_norm_layer(norm_cfg, c)[1]

        self.branch_main = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, 1, 0, bias=False), norm(mid_channels),
            build_site_activation(act_cfg, mid_channels, norm_cfg),
            nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, groups=mid_channels, bias=False),
            norm(mid_channels),
            nn.Conv2d(mid_channels, branch_out, 1, 1, 0, bias=False), norm(branch_out),
            build_site_activation(act_cfg, branch_out, norm_cfg))
        self.branch_proj = None
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, 3, 2, 1, groups=in_channels, bias=False),
                norm(in_channels),
                nn.Conv2d(in_channels, in_channels, 1, 1, 0, bias=False), norm(in_channels),
                build_site_activation(act_cfg, in_channels, norm_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, x = channel_split_shuffled(x)
            return torch.cat((kept, self.branch_main(x)), 1)
        return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)


@MODELS.register_module()
class ShuffleNetV2FReLU(BaseModule):
    """The official FunnelAct ShuffleNetV2 as a detection/segmentation backbone.

    Args:
        widen (str): ``'0.5x'`` (the official weights), ``'1.0x'``, ``'1.5x'``, ``'2.0x'``.
        out_indices (Sequence[int]): 0, 1, 2 are the ends of the three stages
            (strides 8, 16, 32), 3 is ``conv_last`` (stride 32).
        frozen_stages (int): -1 freezes nothing, 0 the stem, i the stem and stages 1..i,
            4 everything including ``conv_last``.
        act_cfg (dict): the activation; default the light FReLU
            (``condition='factorized_sum'``); ``dict(type='ReLU')`` gives the ReLU net.
        norm_cfg (dict): the conv norms.
        norm_eval (bool): keep the BNs (an FReLU's included) in eval mode in training.
        init_cfg (dict | list | None): mmengine init config.
    """

    arch_settings = {
        '0.5x': (24, 48, 96, 192, 1024),
        '1.0x': (24, 116, 232, 464, 1024),
        '1.5x': (24, 176, 352, 704, 1024),
        '2.0x': (24, 244, 488, 976, 2048),
    }

    def __init__(self, widen: str = '0.5x', out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1, act_cfg: dict = LIGHT_FRELU,
                 norm_cfg: dict = dict(type='BN'), norm_eval: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if widen not in self.arch_settings:
            raise ValueError(f'widen must be one of {sorted(self.arch_settings)}, got {widen!r}')
        if any(i not in range(4) for i in out_indices):
            raise ValueError(f'out_indices must be in 0..3, got {out_indices}')
        self.widen = widen
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        channels = self.arch_settings[widen]
        self.out_channels = (*channels[1:4], channels[4])

        stem = channels[0]
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, stem, 3, 2, 1, bias=False), build_norm_layer(norm_cfg, stem)[1],
            build_site_activation(act_cfg, stem, norm_cfg))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, width, self.stage_ends = [], stem, []
        for repeats, out in zip(STAGE_REPEATS, channels[1:4]):
            for i in range(repeats):
                stride = 2 if i == 0 else 1
                blocks.append(ShuffleV2BlockFReLU(width if stride == 2 else width // 2, out,
                                                  out // 2, stride, act_cfg, norm_cfg))
                width = out
            self.stage_ends.append(len(blocks) - 1)
        self.features = nn.Sequential(*blocks)
        self.conv_last = nn.Sequential(
            nn.Conv2d(width, channels[4], 1, 1, 0, bias=False),
            build_norm_layer(norm_cfg, channels[4])[1],
            build_site_activation(act_cfg, channels[4], norm_cfg))

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.maxpool(self.first_conv(x))
        outs = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.stage_ends and self.stage_ends.index(i) in self.out_indices:
                outs.append(x)
        if 3 in self.out_indices:
            outs.append(self.conv_last(x))
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        mods = [self.first_conv]
        start = 0
        for stage, end in enumerate(self.stage_ends[:min(self.frozen_stages, 3)]):
            mods += list(self.features[start:end + 1])
            start = end + 1
        if self.frozen_stages >= 4:
            mods.append(self.conv_last)
        return mods

    def train(self, mode: bool = True):
        """Train mode, keeping frozen stages (and all BNs with ``norm_eval``) in eval."""
        super().train(mode)
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
