"""Parameters and FLOPs in the paper's columns.

* ``backbone``: the config's backbone alone, batch 1, 3 x 224 x 224 (the
  classification setting of the paper's ImageNet table);
* ``classifier``: that backbone + global average pooling + a 1000-way linear
  layer, i.e. the ImageNet model whose params/FLOPs the paper lists for
  RetinaNet (ResNet-50: 25.5M); for a classification config (mmpretrain's
  ``ImageClassifier``) the config's own model at 224 x 224 (its neck and head);
* ``model``: the whole detector / segmentor / classifier at a given input size
  (``forward(mode='tensor')``: backbone, neck, heads; no post-processing, no
  auxiliary head).

FLOP counting: see :mod:`frelu_mm.analysis.flop_handles`.
"""
import json
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.config import Config

from .flop_handles import COUNTING_NOTE, max_op_handles


def _analyzer(model: nn.Module, inputs: Tuple, count_max: bool, count_bn: bool) -> FlopAnalyzer:
    model.eval()
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    if count_max:
        analyzer.set_op_handle(**max_op_handles())
    if not count_bn:
        # a None handle does not override mmengine's default BN handle; count 0
        analyzer.set_op_handle('aten::batch_norm', lambda inputs, outputs: 0)
    return analyzer


def _summary(analyzer: FlopAnalyzer, params: dict, name: str = '') -> dict:
    with torch.no_grad():
        flops = int(analyzer.total(name))
    return dict(params=int(params[name]), flops=flops,
                flops_by_operator={k: int(v) for k, v in analyzer.by_operator(name).items()},
                uncounted_ops=dict(analyzer.unsupported_ops(name)))


def count_complexity(model: nn.Module, inputs: Union[torch.Tensor, Tuple],
                     count_max: bool = True, count_bn: bool = True) -> dict:
    """Parameters and FLOPs of ``model(*inputs)`` with mmengine's counter.

    Args:
        model (nn.Module): the model (put in eval mode here).
        inputs (Tensor | tuple): its forward inputs.
        count_max (bool): count element-wise max (FReLU) as 1 FLOP per element.
            False gives mmengine's default count.
        count_bn (bool): count BatchNorm (False: as if folded into the convs).

    Returns:
        dict: ``params``, ``flops``, ``flops_by_operator`` and ``uncounted_ops``
        (operator -> occurrences that count 0 because mmengine has no handle).
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs, )
    return _summary(_analyzer(model, inputs, count_max, count_bn), parameter_count(model))


class ImageNetClassifier(nn.Module):
    """A backbone + global average pooling + linear layer on its last output.

    Args:
        backbone (nn.Module): returns a tensor or a tuple of feature maps.
        in_channels (int): channels of the last feature map.
        num_classes (int): classes of the linear layer.
    """

    def __init__(self, backbone: nn.Module, in_channels: int, num_classes: int = 1000):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        last = feats[-1] if isinstance(feats, (tuple, list)) else feats
        return self.fc(F.adaptive_avg_pool2d(last, 1).flatten(1))


class TensorModeForward(nn.Module):
    """Calls an OpenMMLab model with ``mode='tensor'`` so it can be traced.

    Args:
        model (nn.Module): an mmdet detector, mmseg segmentor or mmpretrain
            classifier.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model(x, mode='tensor')


def load_config(config: Union[str, Config]) -> Config:
    """A Config from a path (or as given), its scope set and custom imports done.

    Args:
        config (str | Config): config file or object.
    """
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    import frelu_mm  # noqa: F401  (registers the project's modules)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


SCOPE_TASKS = {'mmdet': 'det', 'mmseg': 'seg', 'mmpretrain': 'cls'}


def config_task(cfg: Config) -> str:
    """``'det'`` for mmdet configs, ``'seg'`` for mmseg ones, ``'cls'`` for
    mmpretrain ones (without a known scope: from the model's keys and type).

    Args:
        cfg (Config): the config.
    """
    scope = cfg.get('default_scope')
    if scope in SCOPE_TASKS:
        return SCOPE_TASKS[scope]
    if 'decode_head' in cfg.model:
        return 'seg'
    kind = str(cfg.model.get('type', '')).split('.')[-1]
    return 'cls' if kind.endswith('Classifier') else 'det'


def _build(cfg_dict: dict) -> nn.Module:
    # eval mode; mmdet/mmseg ResNet.train() returns None, so no chaining.
    from mmengine.registry import MODELS
    model = MODELS.build(cfg_dict)
    model.eval()
    return model


def _own_classifier(cfg: Config, x: torch.Tensor, count_max: bool, count_bn: bool) -> dict:
    # a classification config: its model is the classifier; one trace, backbone share
    model = TensorModeForward(_build(cfg.model))
    analyzer, params = _analyzer(model, (x, ), count_max, count_bn), parameter_count(model)
    out = dict(backbone=_summary(analyzer, params, 'model.backbone'),
               classifier=_summary(analyzer, params))
    head = getattr(model.model, 'head', None)
    out['classifier']['num_classes'] = getattr(head, 'num_classes', None)
    return out


def backbone_complexity(config: Union[str, Config], input_size: int = 224,
                        num_classes: int = 1000, count_max: bool = True,
                        count_bn: bool = True) -> dict:
    """The backbone alone and as an ImageNet classifier, batch 1, square input.

    For a classification config (:func:`config_task` ``'cls'``) the classifier
    is the config's own model (its neck and head, its number of classes) and
    ``num_classes`` is not used.

    Args:
        config (str | Config): config with ``model.backbone``.
        input_size (int): side of the input. Default 224.
        num_classes (int): classes of the classifier's linear layer. Default 1000.
        count_max (bool): see :func:`count_complexity`.
        count_bn (bool): see :func:`count_complexity`.

    Returns:
        dict: ``backbone`` and ``classifier`` results of :func:`count_complexity`,
        each with its ``input_shape``.
    """
    cfg = load_config(config)
    x = torch.randn(1, 3, input_size, input_size)
    if config_task(cfg) == 'cls':
        out = _own_classifier(cfg, x, count_max, count_bn)
        for v in out.values():
            v['input_shape'] = list(x.shape)
        return out
    backbone = _build(cfg.model.backbone)
    with torch.no_grad():
        feats = backbone(x)
    last = feats[-1] if isinstance(feats, (tuple, list)) else feats
    clf = ImageNetClassifier(backbone, last.shape[1], num_classes)
    # one trace: the classifier's total and its backbone's share
    analyzer, params = _analyzer(clf, (x, ), count_max, count_bn), parameter_count(clf)
    out = dict(backbone=_summary(analyzer, params, 'backbone'), classifier=_summary(analyzer, params))
    out['classifier']['num_classes'] = num_classes
    for v in out.values():
        v['input_shape'] = list(x.shape)
    return out


def padded_shape(cfg: Config, shape: Sequence[int]) -> Tuple[int, int]:
    """(H, W) padded to the data preprocessor's ``pad_size_divisor`` /
    ``size_divisor`` as the model would see it.

    Args:
        cfg (Config): the config.
        shape (Sequence[int]): (H, W).
    """
    pre = cfg.model.get('data_preprocessor') or {}
    div = pre.get('pad_size_divisor') or pre.get('size_divisor') or 1
    h, w = shape
    return (-(-h // div) * div, -(-w // div) * div)


DEFAULT_SHAPES = {'det': (800, 1333), 'seg': (512, 1024), 'cls': (224, 224)}


def model_complexity(config: Union[str, Config], shape: Optional[Sequence[int]] = None,
                     count_max: bool = True, count_bn: bool = True) -> dict:
    """The whole detector / segmentor / classifier, batch 1, ``mode='tensor'``.

    Args:
        config (str | Config): the config.
        shape (Sequence[int], optional): input (H, W) before padding; default
            800 x 1333 (det), 512 x 1024 (seg) or 224 x 224 (cls).
        count_max (bool): see :func:`count_complexity`.
        count_bn (bool): see :func:`count_complexity`.

    Returns:
        dict: :func:`count_complexity`'s result plus ``input_shape`` and
        ``params_without_aux`` (segmentors: without the training-only
        auxiliary head).
    """
    cfg = load_config(config)
    shape = tuple(shape) if shape else DEFAULT_SHAPES[config_task(cfg)]
    h, w = padded_shape(cfg, shape)
    model = _build(cfg.model)
    x = torch.randn(1, 3, h, w)
    out = count_complexity(TensorModeForward(model), x, count_max, count_bn)
    out['input_shape'] = [1, 3, h, w]
    aux = getattr(model, 'auxiliary_head', None)
    if isinstance(aux, nn.Module):
        out['params_without_aux'] = out['params'] - int(parameter_count(aux)[''])
    return out


def complexity_report(config: Union[str, Config], shape: Optional[Sequence[int]] = None,
                      input_size: int = 224, num_classes: int = 1000,
                      count_max: bool = True, count_bn: bool = True,
                      whole_model: bool = True) -> dict:
    """Everything ``tools/get_flops.py`` reports (the ``complexity.json`` record).

    Args:
        config (str | Config): the config.
        shape (Sequence[int], optional): whole-model input (H, W).
        input_size (int): backbone input side. Default 224.
        num_classes (int): classifier classes (detection / segmentation
            configs; a classification config has its own). Default 1000.
        count_max (bool): count FReLU's max. Default True.
        count_bn (bool): count BatchNorm. Default True.
        whole_model (bool): also count the whole model. Default True.

    Returns:
        dict: ``task``, ``backbone``, ``classifier``, ``model`` (if asked) and
        ``counting`` (how FLOPs are counted).
    """
    cfg = load_config(config)
    report = dict(config=config if isinstance(config, str) else cfg.filename,
                  task=config_task(cfg))
    report.update(backbone_complexity(cfg, input_size, num_classes, count_max, count_bn))
    if whole_model:
        own = report['task'] == 'cls' and tuple(padded_shape(
            cfg, shape or DEFAULT_SHAPES['cls'])) == (input_size, input_size)
        if own:  # the classifier already is the whole model at that size
            report['model'] = {k: v for k, v in report['classifier'].items() if k != 'num_classes'}
        else:
            report['model'] = model_complexity(cfg, shape, count_max, count_bn)
    report['counting'] = COUNTING_NOTE + ('' if count_max else ' (max NOT counted here)') + (
        '' if count_bn else ' BatchNorm NOT counted here (as if folded).')
    return report


def save_complexity(report: dict, path: str) -> str:
    """Write a complexity report as JSON, atomically.

    Args:
        report (dict): from :func:`complexity_report`.
        path (str): destination, e.g. ``<work_dir>/complexity.json``.
    """
    from ..evaluation.atomic import atomic_write
    return atomic_write(path, json.dumps(report, indent=2) + '\n')


def format_count(n: Optional[float], unit: str = '') -> str:
    """1234567 -> ``'1.23M'`` (K, M, G, T; 3 significant digits).

    Args:
        n (float | None): the count; None -> ``'-'``.
        unit (str): appended suffix.
    """
    if n is None:
        return '-'
    for div, suffix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(n) >= div:
            return f'{n / div:.3g}{suffix}{unit}'
    return f'{n:.3g}{unit}'
