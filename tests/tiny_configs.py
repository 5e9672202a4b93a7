"""Shrink the shipped configs so tests build and run them in seconds."""
from mmengine.config import Config

DET_TINY = {
    'model.backbone.base_channels': 2,
    'model.backbone.init_cfg': None,
    'model.neck.in_channels': [8, 16, 32, 64],
    'model.neck.out_channels': 8,
    'model.bbox_head.in_channels': 8,
    'model.bbox_head.feat_channels': 8,
    'model.bbox_head.stacked_convs': 1,
}
# ShuffleNetV2 is small already: keep its widths, shrink the neck and head
DET_SHUFFLENET_TINY = {k: v for k, v in DET_TINY.items()
                       if k not in ('model.backbone.base_channels', 'model.neck.in_channels')}
SEG_TINY = {
    'model.pretrained': None,
    'model.backbone.base_channels': 2,
    'model.backbone.stem_channels': 8,
    'model.backbone.norm_cfg': dict(type='BN', requires_grad=True),
    'model.decode_head.in_channels': 64,
    'model.decode_head.channels': 8,
    'model.decode_head.norm_cfg': dict(type='BN', requires_grad=True),
    'model.auxiliary_head.in_channels': 32,
    'model.auxiliary_head.channels': 4,
}
# ImageNet ResNets: widths / 32 (the 2048-wide last stage becomes 64)
CLS_RESNET_TINY = {'model.backbone.base_channels': 2, 'model.head.in_channels': 64}


def tiny_options(cfg: Config) -> dict:
    """The config keys that shrink ``cfg``'s model (depth kept, widths divided by 32)."""
    shufflenet = cfg.model.backbone.type == 'ShuffleNetV2FReLU'
    if cfg.default_scope == 'mmdet':
        return DET_SHUFFLENET_TINY if shufflenet else DET_TINY
    if cfg.default_scope == 'mmseg':
        return SEG_TINY
    if shufflenet:
        return {}
    if cfg.model.backbone.type == 'ActResNetV1c':
        return {**CLS_RESNET_TINY, 'model.backbone.stem_channels': 8}
    return CLS_RESNET_TINY


def tiny_config(path: str) -> Config:
    """Load a config and shrink its model (depth kept, widths divided by 32)."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(tiny_options(cfg))
    return cfg
