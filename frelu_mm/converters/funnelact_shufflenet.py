"""The official ShuffleNetV2-FReLU state dict (FunnelAct) -> ``ShuffleNetV2FReLU``'s.

The module tree is the same (``first_conv``, ``features.N.branch_main``,
``features.N.branch_proj``, ``conv_last``; sequential indices kept); only the light
FReLU's inner names differ and the classifier is dropped. No conv has a bias.

=====================================================  =================================
official (inside an FReLU at ``P``)                     ours (``FReLU(condition='factorized_sum')``)
=====================================================  =================================
``P.conv_frelu1.weight`` (1x3 depthwise, 5-D)           ``P.conv.weight`` (4-D)
``P.conv_frelu2.weight`` (3x1 depthwise, 5-D)           ``P.conv2.weight`` (4-D)
``P.bn1.*``                                             ``P.norm.*``
``P.bn2.*``                                             ``P.norm2.*``
any other conv / BN tensor                              same name (5-D / ``(1, C, 1, 1)`` reshaped)
``classifier.0.weight``                                 dropped
=====================================================  =================================
"""
import re
from collections import OrderedDict
from typing import Mapping, Tuple

import numpy as np
import torch

from .funnelact_resnet import BN_TENSORS, ConversionReport, official_state_dict
from .megengine_layout import channel_vector_to_torch, conv_weight_to_torch

REQUIRED_KEYS = ('first_conv.0.weight', 'features.0.branch_main.0.weight', 'conv_last.0.weight')
NOT_A_CHECKPOINT = ('does not look like the official ShuffleNetV2-FReLU checkpoint '
                    '(megvii-model/FunnelAct shufflenetv2_0.5x.model)')
DROPPED_PREFIXES = ('classifier.', )
_SEQ = r'(first_conv|conv_last|features\.\d+\.branch_(main|proj))\.\d+'
FRELU_RENAMES = (('conv_frelu1', 'conv'), ('conv_frelu2', 'conv2'), ('bn1', 'norm'),
                 ('bn2', 'norm2'))
KEY = re.compile(rf'^{_SEQ}(\.(conv_frelu[12]|bn[12]))?\.(weight|bias|running_mean|running_var)$')


def our_key(official_key: str) -> str:
    """Our name for an official ShuffleNetV2-FReLU key (light-FReLU parts renamed).

    Args:
        official_key (str): e.g. ``'features.3.branch_main.2.bn1.running_var'``.
    """
    for old, new in FRELU_RENAMES:
        official_key = re.sub(rf'^({_SEQ})\.{old}\.', rf'\1.{new}.', official_key)
    return official_key


def convert_funnelact_shufflenet(
        official: Mapping[str, np.ndarray]
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Convert an official ShuffleNetV2-FReLU state dict to ``ShuffleNetV2FReLU``'s.

    Args:
        official (Mapping[str, np.ndarray]): the MegEngine state dict.

    Returns:
        tuple: ``(state_dict, report)``.
    """
    official = official_state_dict(official, REQUIRED_KEYS, NOT_A_CHECKPOINT)
    report = ConversionReport()
    unknown = [k for k in official if not k.startswith(DROPPED_PREFIXES) and not KEY.match(k)]
    if unknown:
        raise ValueError(f'{len(unknown)} keys have no place in ShuffleNetV2FReLU: '
                         f'{unknown[:10]}; the file {NOT_A_CHECKPOINT}')
    bias = [k for k in official if k.endswith('.bias') and not _is_bn(official, k)]
    if bias:
        raise ValueError(f'{bias[:5]}: the official ShuffleNetV2 convs have no bias')
    state_dict = OrderedDict()
    for key, value in official.items():
        if key.startswith(DROPPED_PREFIXES):
            report.dropped.append(key)
            continue
        ours = our_key(key)
        if _is_bn(official, key):
            value = channel_vector_to_torch(value, key)
        else:
            value = conv_weight_to_torch(value, key)
        dtype = np.float64 if value.dtype == np.float64 else np.float32
        state_dict[ours] = torch.from_numpy(np.array(value, dtype=dtype, copy=True))
        report.mapped[key] = ours
        if ours.endswith('.running_var'):
            counter = ours[:-len('running_var')] + 'num_batches_tracked'
            state_dict[counter] = torch.tensor(0, dtype=torch.long)
            report.added.append(counter)
    return state_dict, report


def _is_bn(official: Mapping[str, np.ndarray], key: str) -> bool:
    module = key.rpartition('.')[0]
    return f'{module}.running_var' in official and key.rpartition('.')[2] in BN_TENSORS


def shufflenet_kwargs_for(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """The ``ShuffleNetV2FReLU`` arguments matching a converted state dict.

    Args:
        state_dict (Mapping[str, torch.Tensor]): a converted state dict.
    """
    from ..models.backbones.shufflenet_v2_frelu import ShuffleNetV2FReLU
    last_out, last_in = state_dict['conv_last.0.weight'].shape[:2]
    for widen, channels in ShuffleNetV2FReLU.arch_settings.items():
        if (channels[3], channels[4]) == (last_in, last_out):
            light = 'conv_last.2.conv2.weight' in state_dict
            act = dict(type='FReLU', condition='factorized_sum') if light else dict(type='ReLU')
            return dict(widen=widen, act_cfg=act)
    raise ValueError(f'conv_last ({last_in} -> {last_out}) matches no ShuffleNetV2 width')


def load_shufflenet_strictly(state_dict: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Build the matching ``ShuffleNetV2FReLU`` and load ``state_dict`` with ``strict=True``.

    Args:
        state_dict (Mapping[str, torch.Tensor]): a converted state dict.

    Returns:
        nn.Module: the backbone, weights loaded, in eval mode.
    """
    from ..models.backbones.shufflenet_v2_frelu import ShuffleNetV2FReLU
    model = ShuffleNetV2FReLU(**shufflenet_kwargs_for(state_dict))
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    return model
