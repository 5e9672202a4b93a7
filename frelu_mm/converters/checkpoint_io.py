"""Official FunnelAct file in, mmengine-loadable checkpoint out (ResNet or ShuffleNetV2)."""
import os.path as osp
from typing import Optional, Tuple

import torch

from .funnelact_resnet import ConversionReport, convert_funnelact_resnet
from .resnet_check import backbone_kwargs_for, load_strictly
from .safe_pickle import load_numpy_pickle

NORMALISATION_NOTE = (
    'Input normalisation of the official weights is disputed upstream: the hub page lists '
    'mean [103.53, 116.28, 123.675], std [57.375, 57.12, 58.395] on BGR 0..255 input, while a '
    'later FunnelAct commit ("Update norm") removed that Normalize from its scripts. '
    'See docs/weights_and_onnx.md.')


def detect_architecture(official) -> str:
    """``'resnet'`` or ``'shufflenet'``, from the keys of an unpickled official file.

    Args:
        official: what the pickle contained (a state dict, or a dict holding one).
    """
    keys = official.get('state_dict', official) if isinstance(official, dict) else {}
    if isinstance(keys, dict) and 'first_conv.0.weight' in keys:
        return 'shufflenet'
    return 'resnet'  # the ResNet converter gives the detailed error if it is neither


def convert_funnelact_checkpoint(src: str, dst: Optional[str] = None, verify: bool = True,
                                 arch: str = 'auto') -> Tuple[dict, ConversionReport]:
    """Convert an official FunnelAct file (``res50_frelu.model`` or
    ``shufflenetv2_0.5x.model``) to ``{'state_dict': ..., 'meta': ...}``.

    Args:
        src (str): the official MegEngine pickle; read with the numpy-only unpickler.
        dst (str | None): where to ``torch.save`` the checkpoint; None keeps it in memory.
        verify (bool): build the matching backbone (``ActResNet`` /
            ``ShuffleNetV2FReLU``) and load the result strictly before saving.
        arch (str): ``'auto'`` (from the keys), ``'resnet'`` or ``'shufflenet'``.

    Returns:
        tuple: ``(checkpoint, report)``.
    """
    official = load_numpy_pickle(src)
    if arch == 'auto':
        arch = detect_architecture(official)
    if arch == 'resnet':
        state_dict, report = convert_funnelact_resnet(official)
        backbone = dict(type='ActResNet', **backbone_kwargs_for(state_dict))
        if verify:
            load_strictly(state_dict, {k: v for k, v in backbone.items() if k != 'type'})
    elif arch == 'shufflenet':
        from .funnelact_shufflenet import (convert_funnelact_shufflenet,
                                           load_shufflenet_strictly, shufflenet_kwargs_for)
        state_dict, report = convert_funnelact_shufflenet(official)
        backbone = dict(type='ShuffleNetV2FReLU', **shufflenet_kwargs_for(state_dict))
        if verify:
            load_shufflenet_strictly(state_dict)
    else:
        raise ValueError(f"arch must be 'auto', 'resnet' or 'shufflenet', got {arch!r}")
    meta = dict(source=osp.basename(src), converter='frelu_mm.converters', backbone=backbone,
                normalisation=NORMALISATION_NOTE, conversion=report.as_meta())
    checkpoint = dict(state_dict=state_dict, meta=meta)
    if dst is not None:
        torch.save(checkpoint, dst)
    return checkpoint, report
