"""Parameters and FLOPs as in the paper's columns, FReLU's max counted."""
from .complexity import (DEFAULT_SHAPES, SCOPE_TASKS, ImageNetClassifier, TensorModeForward,
                         backbone_complexity, complexity_report, config_task,
                         count_complexity, format_count, load_config, model_complexity,
                         padded_shape, save_complexity)
from .flop_handles import COUNTING_NOTE, elementwise_max_flop_jit, max_op_handles

__all__ = [
    'DEFAULT_SHAPES', 'SCOPE_TASKS', 'ImageNetClassifier', 'TensorModeForward',
    'backbone_complexity', 'complexity_report', 'config_task', 'count_complexity',
    'format_count', 'load_config', 'model_complexity', 'padded_shape', 'save_complexity',
    'COUNTING_NOTE', 'elementwise_max_flop_jit', 'max_op_handles'
]
