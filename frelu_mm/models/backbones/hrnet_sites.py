"""HRNet whose activations come from an ``act_cfg``: the sites and where FReLU goes.

HRNet (mmdet's and mmseg's) hard-codes ReLU in four places: the stem, the residual
blocks (a Bottleneck stage, then BasicBlocks in every branch of every HRModule),
the fuse layers of each HRModule (after each fused output, and between the stride-2
convs of a multi-step downsample) and the transitions that open new branches.

Sites, as for ResNet: ``'conv1'``, ``'conv2'``, ``'out'`` in the blocks (a BasicBlock
has ``'conv1'`` and ``'out'``), plus ``'fuse'`` and ``'transition'``. Stages: ``layer1``
(stage 1, its transition1 and fuse-free) then ``stage2..stage4`` with the transition
that feeds them. The default follows the paper's rule for ResNet: FReLU replaces ReLU
in the conv blocks of every stage but the last (``act_stages=(True, True, True,
False)``, ``act_sites=None`` = the block sites); the stem, fuse layers and transitions
(HRNet's exchange units, like ResNet's stem and shortcuts) keep ReLU unless
``act_sites`` names ``'fuse'`` / ``'transition'``. An FReLU gets its site's width and
the backbone's norm type.
"""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import Sequential

from .activation_sites import (BASIC_BLOCK_SITES, BOTTLENECK_SITES, RELU, build_site_activation,
                               check_act_stages, check_sites)

HRNET_SITES = BOTTLENECK_SITES + ('fuse', 'transition')
NUM_STAGES = 4


class BoundBlock:
    """A block class with its activation arguments bound: HRNet builds blocks by
    calling ``block(...)`` and reads ``block.expansion``."""

    def __init__(self, block: type, **act_kwargs):
        self.block, self.act_kwargs = block, act_kwargs
        self.expansion = block.expansion

    def __call__(self, *args, **kwargs):
        return self.block(*args, **self.act_kwargs, **kwargs)


def replace_relus(module: nn.Module, act_cfg: dict, norm_cfg: Optional[dict]) -> None:
    """Replace each ``nn.ReLU`` of the conv-norm-ReLU ``Sequential``s below ``module``
    by its own activation, as wide as the conv before it."""
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i, child in enumerate(seq):
            if isinstance(child, nn.ReLU):
                conv = next(m for m in reversed(seq[:i]) if hasattr(m, 'out_channels'))
                seq[i] = build_site_activation(act_cfg, conv.out_channels, norm_cfg)


class ActHRModuleMixin:
    """An HRModule whose fused outputs each have their own activation.

    Args:
        fuse_act_cfg (dict | None): the activation of the fuse layers (after each
            fused output and inside multi-step downsamples); None keeps the host's ReLU.
        *args, **kwargs: the host HRModule's arguments.
    """

    def __init__(self, *args, fuse_act_cfg: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.fuse_layers is None:
            return  # one branch: no fuse, the host's forward does not activate
        del self.relu  # the host's ReLU shared by outputs of different widths
        self.fuse_acts = nn.ModuleList(
            nn.ReLU(inplace=False) if fuse_act_cfg is None else
            build_site_activation(fuse_act_cfg, self.in_channels[i], self.norm_cfg)
            for i in range(len(self.fuse_layers)))
        if fuse_act_cfg is not None:
            for i, fuse_layer in enumerate(self.fuse_layers):
                for j in range(i):
                    replace_relus(fuse_layer[j], fuse_act_cfg, self.norm_cfg)

    def fuse_sum(self, x: list, i: int):
        """Branch ``i``'s fused sum before its activation, as the host computes it."""
        raise NotImplementedError

    def forward(self, x):
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        for i in range(self.num_branches):
            x[i] = self.branches[i](x[i])
        return [self.fuse_acts[i](self.fuse_sum(x, i)) for i in range(len(self.fuse_layers))]


class ActHRNetMixin:
    """A host HRNet whose activations follow ``act_cfg`` at the chosen sites and stages.

    Args:
        act_cfg (dict): activation at the chosen sites of the chosen stages. Default
            ReLU, which makes the backbone its host's twin.
        act_stages (Sequence[bool] | None): which of the four stages (layer1,
            stage2, stage3, stage4) use ``act_cfg``; None: the first three.
        act_sites (Sequence[str] | None): among ``'conv1'``, ``'conv2'``, ``'out'``
            (block sites; a BasicBlock has no ``'conv2'``), ``'fuse'``,
            ``'transition'``; None means the block sites.
        **kwargs: the host HRNet's arguments.
    """

    hr_module = None  # the host's HRModule twin, set by each host's class
    blocks_dict = {}  # the host's block names -> twin blocks, set by each host's class

    def __init__(self, *args, act_cfg: Optional[dict] = RELU,
                 act_stages: Optional[Sequence[bool]] = None,
                 act_sites: Optional[Sequence[str]] = None, **kwargs):
        self.act_cfg = act_cfg
        self.act_stages = check_act_stages(act_stages, NUM_STAGES)
        self.act_sites = BOTTLENECK_SITES if act_sites is None \
            else check_sites(act_sites, HRNET_SITES)
        super().__init__(*args, **kwargs)

    def _stage_act_cfg(self, stage: int) -> Optional[dict]:
        return self.act_cfg if self.act_stages[stage] else None

    def _bound_block(self, block: type, stage: int) -> BoundBlock:
        known = BASIC_BLOCK_SITES if block.expansion == 1 else BOTTLENECK_SITES
        return BoundBlock(block, act_cfg=self._stage_act_cfg(stage) or RELU,
                          act_sites=tuple(s for s in self.act_sites if s in known))

    def _make_layer(self, block, *args, **kwargs):
        """Stage 1 (``layer1``), its blocks built with their activation settings."""
        return super()._make_layer(self._bound_block(block, 0), *args, **kwargs)

    def _make_transition_layer(self, *args, **kwargs):
        """The transition into the next stage; its ReLUs are ``'transition'`` sites."""
        layers = super()._make_transition_layer(*args, **kwargs)
        stage = sum(hasattr(self, f'transition{k}') for k in (1, 2, 3)) + 1
        act_cfg = self._stage_act_cfg(stage)
        if act_cfg is not None and 'transition' in self.act_sites:
            replace_relus(layers, act_cfg, self.norm_cfg)
        return layers

    def _make_stage(self, layer_config, in_channels, multiscale_output=True):
        """Stages 2..4: the host's HRModules, as twins with the stage's settings."""
        stage = sum(hasattr(self, f'stage{k}') for k in (2, 3, 4)) + 1
        act_cfg = self._stage_act_cfg(stage)
        block = self._bound_block(self.blocks_dict[layer_config['block']], stage)
        num_modules = layer_config['num_modules']
        modules = [
            self.hr_module(
                layer_config['num_branches'], block, layer_config['num_blocks'], in_channels,
                layer_config['num_channels'],
                # the host keeps one output only in the last module of a single-scale stage
                multiscale_output or i < num_modules - 1,
                with_cp=self.with_cp, norm_cfg=self.norm_cfg, conv_cfg=self.conv_cfg,
                # the host's block_init_cfg is always None (BaseModule sets init_cfg)
                fuse_act_cfg=act_cfg if 'fuse' in self.act_sites else None)
            for i in range(num_modules)
        ]
        return Sequential(*modules), in_channels
