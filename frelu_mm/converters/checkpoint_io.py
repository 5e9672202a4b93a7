"""Official FunnelAct file in, mmengine-loadable checkpoint out."""
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


def convert_funnelact_checkpoint(src: str, dst: Optional[str] = None,
                                 verify: bool = True) -> Tuple[dict, ConversionReport]:
    """Convert the official ``res50_frelu.model`` to ``{'state_dict': ..., 'meta': ...}``.

    Args:
        src (str): the official MegEngine pickle; read with the numpy-only unpickler.
        dst (str | None): where to ``torch.save`` the checkpoint; None keeps it in memory.
        verify (bool): build the matching ``ActResNet`` and load the result strictly
            before saving.

    Returns:
        tuple: ``(checkpoint, report)``.
    """
    state_dict, report = convert_funnelact_resnet(load_numpy_pickle(src))
    kwargs = backbone_kwargs_for(state_dict)
    if verify:
        load_strictly(state_dict, kwargs)
    meta = dict(source=osp.basename(src), converter='frelu_mm.converters',
                backbone=dict(type='ActResNet', **kwargs),
                normalisation=NORMALISATION_NOTE, conversion=report.as_meta())
    checkpoint = dict(state_dict=state_dict, meta=meta)
    if dst is not None:
        torch.save(checkpoint, dst)
    return checkpoint, report
