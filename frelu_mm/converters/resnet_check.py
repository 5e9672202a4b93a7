"""Which ``ActResNet`` a converted state dict belongs to, and a strict load into it."""
import re
from typing import Mapping, Optional

import torch

SITE_NAMES = {1: 'conv1', 2: 'conv2', 3: 'out'}


def backbone_kwargs_for(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """Infer the ``ActResNet`` arguments whose state dict has these keys and shapes.

    The depth comes from the blocks per stage, the widths from ``conv1`` and the
    first block, FReLU's stages and sites from the ``act*.conv`` keys. The stride
    sits on the first 1x1 conv in the official net, hence ``style='caffe'``.

    Args:
        state_dict (Mapping[str, torch.Tensor]): a converted state dict.

    Returns:
        dict: kwargs for ``ActResNet`` (``type`` not included).
    """
    from ..models.backbones.det_resnet import ActResNet

    blocks = {}
    for key in state_dict:
        m = re.match(r'layer([1-4])\.(\d+)\.', key)
        if m:
            stage = int(m.group(1))
            blocks[stage] = max(blocks.get(stage, 0), int(m.group(2)) + 1)
    stage_blocks = tuple(blocks.get(i, 0) for i in range(1, 5))
    depths = [d for d, (_, counts) in ActResNet.arch_settings.items()
              if tuple(counts) == stage_blocks
              and ('layer1.0.conv3.weight' in state_dict) == (d >= 50)]
    if not depths:
        raise ValueError(f'blocks per stage {stage_blocks} match no ResNet depth '
                         f'{sorted(ActResNet.arch_settings)}')
    sites = sorted({int(m.group(2)) for k in state_dict
                    for m in [re.match(r'layer([1-4])\.\d+\.act([123])\.conv\.weight$', k)] if m})
    stages = {int(m.group(1)) for k in state_dict
              for m in [re.match(r'layer([1-4])\.\d+\.act[123]\.conv\.weight$', k)] if m}
    act_cfg = dict(type='FReLU') if sites else dict(type='ReLU')
    kwargs = dict(depth=depths[0], style='caffe', act_cfg=act_cfg)
    if sites:
        kwargs['act_stages'] = tuple(i in stages for i in range(1, 5))
        if sites != [1, 2, 3]:
            kwargs['act_sites'] = tuple(SITE_NAMES[s] for s in sites)
    stem = state_dict['conv1.weight'].shape[0]
    base = state_dict['layer1.0.conv1.weight'].shape[0]
    if (stem, base) != (64, 64):
        kwargs.update(stem_channels=stem, base_channels=base)
    return kwargs


def load_strictly(state_dict: Mapping[str, torch.Tensor], kwargs: Optional[dict] = None,
                  backbone_type: str = 'ActResNet') -> torch.nn.Module:
    """Build the backbone and load ``state_dict`` into it with ``strict=True``.

    Args:
        state_dict (Mapping[str, torch.Tensor]): a converted state dict.
        kwargs (dict | None): backbone arguments; None infers them
            (:func:`backbone_kwargs_for`).
        backbone_type (str): a registered backbone with the 7x7 stem:
            ``'ActResNet'`` (mmdet) or ``'ActResNetV1b'`` (mmseg).

    Returns:
        nn.Module: the backbone, weights loaded, in eval mode.
    """
    from mmengine.registry import MODELS

    import frelu_mm  # noqa: F401  (registers the backbones)

    cfg = dict(backbone_kwargs_for(state_dict) if kwargs is None else kwargs)
    cfg['type'] = backbone_type
    model = MODELS.build(cfg)
    model.load_state_dict(state_dict, strict=True)
    model.eval()  # the host ResNets' train() returns None, so not chained
    return model
