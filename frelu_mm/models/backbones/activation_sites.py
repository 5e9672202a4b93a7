"""ResNet-family blocks and backbones whose activations come from an ``act_cfg``.

The host ResNets (mmdet's ``ResNet``/``ResNeXt``/``RegNet``, mmseg's ``ResNetV1c``/
``ResNeXt``) hard-code ReLU, and a Bottleneck shares one ReLU module at three widths.
The mixins here give each activation site its own module with its own width, chosen
per stage and per site, while keeping every host parameter name, so host checkpoints
load strictly.

Sites of a Bottleneck: ``'conv1'`` (after the first 1x1 conv and its norm),
``'conv2'`` (after the 3x3 conv), ``'out'`` (after the residual add, i.e. after the
last 1x1 conv). A BasicBlock has ``'conv1'`` and ``'out'``. The paper's "1x1 only"
ablation is ``act_sites=('conv1', 'out')``, "3x3 only" is ``act_sites=('conv2',)``.
Stages: by default every stage but the fourth (the official layer1..layer3; all of
them when a backbone has fewer than four, as the C4 detectors).
An FReLU at a site gets the site's width and the backbone's norm type.
"""
from typing import Optional, Sequence

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer

from ...layers.channel_inference import fill_in_frelu, follow_host_norm, is_frelu
from ...layers.norm_act import norm_act

RELU = dict(type='ReLU')
HOST_NORM = dict(type='BN')  # the host blocks' default norm_cfg
BOTTLENECK_SITES = ('conv1', 'conv2', 'out')
BASIC_BLOCK_SITES = ('conv1', 'out')
# mmcv's ConvModule does not pass `inplace` to these; neither do we.
NO_INPLACE = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU')


def build_site_activation(act_cfg: Optional[dict], width: int,
                          norm_cfg: Optional[dict] = None) -> nn.Module:
    """Build one activation site of width ``width`` (None means ReLU).

    Args:
        act_cfg (dict | None): the site's activation.
        width (int): channels at the site.
        norm_cfg (dict | None): the surrounding norm; FReLU's condition takes its type
            unless ``act_cfg`` names a norm.
    """
    cfg = fill_in_frelu(dict(act_cfg or RELU), width, norm_cfg)
    if isinstance(cfg['type'], str) and cfg['type'] not in NO_INPLACE:
        cfg.setdefault('inplace', True)
    return build_activation_layer(cfg)


def check_sites(act_sites: Optional[Sequence[str]], known: Sequence[str]) -> tuple:
    """Validate site names; None means every site."""
    if act_sites is None:
        return tuple(known)
    if isinstance(act_sites, str):
        act_sites = (act_sites, )
    unknown = [s for s in act_sites if s not in known]
    if unknown:
        raise ValueError(f'unknown act_sites {unknown}; the sites here are {tuple(known)} '
                         f'(conv1: after conv1, conv2: after conv2, out: after the residual add)')
    return tuple(act_sites)


def default_act_stages(num_stages: int) -> tuple:
    """Stages that take ``act_cfg`` by default: all but the fourth (layer1..layer3)."""
    return tuple(i < 3 for i in range(num_stages))


def check_act_stages(act_stages: Optional[Sequence[bool]], num_stages: int) -> tuple:
    """``act_stages`` as a tuple of ``num_stages`` bools (None means the default)."""
    if act_stages is None:
        return default_act_stages(num_stages)
    if len(tuple(act_stages)) != num_stages:
        raise ValueError(f'act_stages needs one bool per stage ({num_stages}), '
                         f'got {act_stages!r}')
    return tuple(bool(s) for s in act_stages)


class ActBasicBlockMixin:
    """BasicBlock with activations ``act1`` (after conv1) and ``act2`` (after the add)."""

    def __init__(self, *args, act_cfg: Optional[dict] = RELU,
                 act_sites: Optional[Sequence[str]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        sites = check_sites(act_sites, BASIC_BLOCK_SITES)
        del self.relu  # the host's shared ReLU; each site gets its own module below
        norm_cfg = kwargs.get('norm_cfg', HOST_NORM)
        self.act1 = build_site_activation(act_cfg if 'conv1' in sites else RELU,
                                          self.conv1.out_channels, norm_cfg)
        self.act2 = build_site_activation(act_cfg if 'out' in sites else RELU,
                                          self.conv2.out_channels, norm_cfg)

    def forward(self, x):

        def residual_sum(x):
            out = self.act1(self.norm1(self.conv1(x)))
            out = self.norm2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return out + identity

        if self.with_cp and x.requires_grad:
            return self.act2(cp.checkpoint(residual_sum, x, use_reentrant=False))
        # norm + activation (+ residual) in one step: a lean FReLU keeps less for backward
        out = norm_act(self.norm1, self.act1, self.conv1(x))
        return norm_act(self.norm2, self.act2, self.conv2(out), x, self.downsample)


class ActBottleneckMixin:
    """Bottleneck with activations ``act1``, ``act2``, ``act3`` at its three sites."""

    def __init__(self, *args, act_cfg: Optional[dict] = RELU,
                 act_sites: Optional[Sequence[str]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        sites = check_sites(act_sites, BOTTLENECK_SITES)
        del self.relu  # the host's shared ReLU; each site gets its own module below
        # the conv widths, not `planes`: ResNeXt and RegNet blocks are wider inside
        widths = (self.conv1.out_channels, self.conv2.out_channels, self.conv3.out_channels)
        for i, (site, width) in enumerate(zip(BOTTLENECK_SITES, widths), start=1):
            self.add_module(f'act{i}', build_site_activation(
                act_cfg if site in sites else RELU, width, self.norm_cfg))

    def make_block_plugins(self, in_channels, plugins):
        """The host's plugins; an FReLU plugin's condition takes the block's norm type."""
        plugins = [follow_host_norm(p, in_channels, self.norm_cfg) if is_frelu(p) else p
                   for p in plugins]
        return super().make_block_plugins(in_channels, plugins)

    def forward(self, x):

        def residual_sum(x):
            out = self.act1(self.norm1(self.conv1(x)))
            if self.with_plugins:
                out = self.forward_plugin(out, self.after_conv1_plugin_names)
            out = self.act2(self.norm2(self.conv2(out)))
            if self.with_plugins:
                out = self.forward_plugin(out, self.after_conv2_plugin_names)
            out = self.norm3(self.conv3(out))
            if self.with_plugins:
                out = self.forward_plugin(out, self.after_conv3_plugin_names)
            identity = x if self.downsample is None else self.downsample(x)
            return out + identity

        if self.with_cp and x.requires_grad:
            return self.act3(cp.checkpoint(residual_sum, x, use_reentrant=False))
        if self.with_plugins and self.after_conv3_plugin_names:
            return self.act3(residual_sum(x))
        # norm + activation (+ residual) in one step: a lean FReLU keeps less for backward
        out = norm_act(self.norm1, self.act1, self.conv1(x))
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv1_plugin_names)
        out = norm_act(self.norm2, self.act2, self.conv2(out))
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv2_plugin_names)
        return norm_act(self.norm3, self.act3, self.conv3(out), x, self.downsample)


class ActResNetMixin:
    """A host ResNet whose block activations (and optionally stem) follow ``act_cfg``.

    Args:
        act_cfg (dict): activation at the chosen sites of the chosen stages.
            Default ReLU, which makes the backbone its host's twin.
        act_stages (Sequence[bool] | None): which stages (layer1..layerN) use
            ``act_cfg``; the others keep ReLU. None (default): every stage but the
            fourth, i.e. (True, True, True, False), the official ResNet-50-FReLU
            placement ("stage 2..4" in the paper), and every stage of a backbone with
            fewer than four (C4 detectors).
        act_sites (Sequence[str] | None): sites inside each block using ``act_cfg``
            (see the module docstring); None means all.
        stem_act_cfg (dict | None): the stem's activation(s); None keeps ReLU.
        **kwargs: the host ResNet's arguments.
    """

    # The host zero-inits each block's last norm only when its block class *is* its
    # own (an identity check that our subclasses fail), so the twin does it. Off where
    # the host never does (ResNeXt: its block is not ResNet's) or does it itself (RegNet).
    zero_init_in_twin = True

    def __init__(self, *args, act_cfg: Optional[dict] = RELU,
                 act_stages: Optional[Sequence[bool]] = None,
                 act_sites: Optional[Sequence[str]] = None,
                 stem_act_cfg: Optional[dict] = None, **kwargs):
        self.act_cfg = act_cfg
        self.act_stages = act_stages  # checked against the stage count as stages are built
        self.act_sites = check_sites(act_sites, self.block_sites(*args, **kwargs))
        self.stem_act_cfg = stem_act_cfg
        host_default_init = kwargs.get('init_cfg') is None and kwargs.get('pretrained') is None
        super().__init__(*args, **kwargs)
        if stem_act_cfg is not None:
            self._replace_stem_activations(stem_act_cfg)
        if host_default_init and self.zero_init_residual and self.zero_init_in_twin:
            self._zero_init_residual()

    def block_sites(self, *args, **kwargs) -> tuple:
        """The site names of this backbone's blocks (from ``depth``)."""
        depth = kwargs.get('depth', args[0] if args else None)
        block = self.arch_settings[depth][0] if depth in self.arch_settings else None
        return BASIC_BLOCK_SITES if block is not None and block.expansion == 1 \
            else BOTTLENECK_SITES

    def make_res_layer(self, **kwargs):
        """Build a stage, passing each block its activation settings."""
        stage = len(self.res_layers)  # the hosts append each stage's name once it is built
        if stage == 0:
            self.act_stages = check_act_stages(self.act_stages, self.num_stages)
        kwargs['act_cfg'] = self.act_cfg if self.act_stages[stage] else RELU
        kwargs['act_sites'] = self.act_sites
        return super().make_res_layer(**kwargs)

    def _replace_stem_activations(self, stem_act_cfg: dict) -> None:
        if self.deep_stem:
            for i, m in enumerate(self.stem):
                if isinstance(m, nn.ReLU):
                    self.stem[i] = build_site_activation(
                        stem_act_cfg, self.stem[i - 2].out_channels, self.norm_cfg)
        else:
            self.relu = build_site_activation(stem_act_cfg, self.conv1.out_channels, self.norm_cfg)

    def _zero_init_residual(self) -> None:
        norm_name = 'norm3' if self.block.expansion == 4 else 'norm2'
        for layer_name in self.res_layers:
            for block in getattr(self, layer_name):
                if block.init_cfg is None:
                    block.init_cfg = dict(type='Constant', val=0, override=dict(name=norm_name))
