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
    'model.auxiliary_head.norm_cfg': dict(type='BN', requires_grad=True),
}


def tiny_config(path: str) -> Config:
    """Load a config and shrink its model (depth kept, widths divided by 32)."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(DET_TINY if cfg.default_scope == 'mmdet' else SEG_TINY)
    return cfg
