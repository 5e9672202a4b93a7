"""A trained model of any of the three toolkits, fed one image through its test pipeline."""
import copy
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint


def load_model(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
               device: str = 'cpu') -> Tuple[nn.Module, Config]:
    """Build ``config``'s model (mmdet, mmseg or mmpretrain: the config's
    ``default_scope``) and load ``checkpoint`` strictly, in eval mode.

    Nothing is downloaded: the checkpoint is the weights (pretrained init_cfgs are
    not run). A runner checkpoint (message hub, numpy state) loads with
    ``weights_only`` through ``allow_runner_checkpoints``.

    Args:
        config (str): config file.
        checkpoint (str): checkpoint file of that config.
        cfg_options (dict | None): ``--cfg-options`` overrides.
        device (str): where to run.
    """
    from ..runner import allow_runner_checkpoints, load_config
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.default_scope)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('data_preprocessor') is None and cfg.get('data_preprocessor') is not None:
        model_cfg.data_preprocessor = cfg.data_preprocessor  # mmpretrain keeps it at the top
    model = MODELS.build(model_cfg)
    allow_runner_checkpoints()
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model, cfg


def test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its annotation loading (images only)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    steps = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not steps:
        raise ValueError('the config has no test pipeline (test_dataloader.dataset.pipeline '
                         'or test_pipeline) to read images with')
    init_default_scope(cfg.default_scope)
    return Compose([copy.deepcopy(t) for t in steps
                    if not str(t['type']).split('.')[-1].endswith('LoadAnnotations')])


def prepare_image(model: nn.Module, pipeline: Compose, path: str) -> Tuple[torch.Tensor, np.ndarray, dict]:
    """Read ``path`` as the test pipeline and ``model.data_preprocessor`` do.

    Returns:
        tuple: the network input ``(1, 3, H', W')`` (padded), the image the pipeline
        produced as RGB ``(H, W, 3)`` uint8 (the input's top-left ``H x W``), and the
        batch (``inputs``, ``data_samples``) to call the model with.
    """
    data = pipeline(dict(img_path=path, img_id=0))
    if data is None:
        raise ValueError(f'the test pipeline dropped {path}')
    batch = model.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
    image = data['inputs']
    image = image.flip(0) if image.shape[0] == 3 else image.expand(3, -1, -1)  # mmcv reads BGR
    return batch['inputs'], image.permute(1, 2, 0).contiguous().numpy().astype(np.uint8), batch


@torch.no_grad()
def run_tensor_mode(model: nn.Module, batch: dict) -> None:
    """The forward without post-processing (``mode='tensor'``): every activation runs."""
    model(batch['inputs'], batch['data_samples'], mode='tensor')
