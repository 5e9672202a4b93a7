"""One entry point over the three hosts' inference APIs, chosen by the config's scope.

``default_scope`` says whose config it is: ``mmdet`` (``init_detector`` /
``inference_detector``), ``mmseg`` (``init_model`` / ``inference_model``) or
``mmpretrain`` (``init_model`` / ``ImageClassificationInferencer``). Checkpoints load through
mmengine's loader, which ``import frelu_mm`` makes weights-only on every torch.
"""
import os.path as osp
from typing import Any, Optional, Tuple

from mmengine.registry import DefaultScope

import frelu_mm  # noqa: F401  (registers the models; safe checkpoint loading)
from ..runner import load_config

# scope -> (module, init function, inference function)
TASK_APIS = {
    'mmdet': ('mmdet.apis', 'init_detector', 'inference_detector'),
    'mmseg': ('mmseg.apis', 'init_model', 'inference_model'),
    # mmpretrain's inference_model finds its inferencer in the model hub's metadata, so it
    # refuses any model built from a config (its own too): its inferencer class is the API
    'mmpretrain': ('mmpretrain.apis', 'init_model', 'ImageClassificationInferencer'),
}


def _apis(scope: str):
    import importlib
    module, init, infer = TASK_APIS[scope]
    apis = importlib.import_module(module)
    return getattr(apis, init), getattr(apis, infer)


def init_for_config(config: str, checkpoint: str, device: str = 'cpu',
                    cfg_options: Optional[dict] = None) -> Tuple[Any, str]:
    """Build the model of ``config`` with ``checkpoint``'s weights: ``(model, scope)``."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} not found; pass a .pth written by '
                                f'tools/train.py (e.g. work_dirs/<config>/iter_N.pth)')
    cfg = load_config(config, cfg_options)  # checks the file and the toolkit
    init, _ = _apis(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return init(cfg, checkpoint, device=device), cfg.default_scope


def predict(model, scope: str, image: str):
    """The host's data sample (``DetDataSample``, ``SegDataSample``, ``DataSample``)."""
    _, infer = _apis(scope)
    # mmpretrain's inferencer builds its pipeline in the current default scope, which an
    # mmdet or mmseg model used before in this process would have left set
    with DefaultScope.overwrite_default_scope(scope):
        if scope != 'mmpretrain':
            result = infer(model, image)
            return result[0] if isinstance(result, list) else result
        result = infer(model)(image)[0]  # a dict of scores, label, class: draw a DataSample
    from mmpretrain.structures import DataSample
    return DataSample().set_pred_score(result['pred_scores']).set_pred_label(
        result['pred_label'])
