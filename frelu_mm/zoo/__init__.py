"""The zoo check: every shipped mmdet/mmseg config with its backbone swapped for the twin."""
from .check import check_backbone
from .configs import TOOLKITS, find_backbones, load_model_cfg, shipped_configs
from .report import markdown, print_summary, summarize
from .twins import TWINS, has_twin, twin_backbone
from .walk import group_backbones, judge_configs, read_config

__all__ = ['TOOLKITS', 'TWINS', 'check_backbone', 'find_backbones', 'group_backbones',
           'has_twin', 'judge_configs', 'load_model_cfg', 'markdown', 'print_summary',
           'read_config', 'shipped_configs', 'summarize', 'twin_backbone']
