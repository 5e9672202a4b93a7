"""Checks the tools run before starting, so bad input fails early with the fix named."""
import json
import os
import os.path as osp
import re
from typing import Optional

import torch

from ..evaluation.atomic import atomic_write

DATA_HINT = ('Prepare the data as in the README ("Real data"), point the config at it with '
             '--cfg-options {key}.data_root=PATH, or for the demo configs run '
             'python tools/make_demo_data.py')


def _join(root: Optional[str], path: str) -> str:
    return path if root is None or osp.isabs(path) else osp.join(root, path)


def check_dataset(dataset_cfg: dict, key: str) -> None:
    """Fail clearly when a dataloader's data root, annotation file or image folder is
    missing, or a COCO annotation names a missing image or an undeclared category.

    Args:
        dataset_cfg (dict): ``*_dataloader.dataset`` of a config.
        key (str): its place in the config, for the message.
    """
    root = dataset_cfg.get('data_root')
    hint = DATA_HINT.format(key=key)
    if root is not None and not osp.isdir(root):
        raise FileNotFoundError(f'{key}: data_root {root!r} does not exist. {hint}')
    ann_file = dataset_cfg.get('ann_file')
    if ann_file:
        ann_path = _join(root, ann_file)
        if not osp.isfile(ann_path):
            raise FileNotFoundError(f'{key}: annotation file {ann_path!r} does not exist. {hint}')
    prefix = dataset_cfg.get('data_prefix') or dataset_cfg.get('split') or {}
    folders = [prefix] if isinstance(prefix, str) else prefix.values()
    for folder in folders:
        if folder and not osp.isdir(_join(root, folder)):
            raise FileNotFoundError(f'{key}: folder {_join(root, folder)!r} does not exist. {hint}')
    if ann_file and ann_file.endswith('.json'):
        img_dir = _join(root, (dataset_cfg.get('data_prefix') or {}).get('img', ''))
        check_coco_annotations(_join(root, ann_file), img_dir)


def check_coco_annotations(ann_path: str, img_dir: str) -> None:
    """Every image of a COCO file exists and every annotation's category is declared."""
    try:
        with open(ann_path) as f:
            coco = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{ann_path} is not valid JSON ({e}); re-create or re-download it') from e
    missing = [im['file_name'] for im in coco.get('images', [])
               if not osp.isfile(osp.join(img_dir, im['file_name']))]
    if missing:
        raise FileNotFoundError(
            f'{ann_path} lists {len(missing)} image(s) not found under {img_dir!r}, '
            f'e.g. {missing[:3]}. Restore the images or remove their entries.')
    declared = {c['id'] for c in coco.get('categories', [])}
    unknown = sorted({a['category_id'] for a in coco.get('annotations', [])} - declared)
    if unknown:
        raise ValueError(f'{ann_path}: annotations use category ids {unknown[:10]} that are '
                         f'not in its "categories" ({sorted(declared)}); fix the file')


def check_data(cfg, splits=('train', 'val', 'test')) -> None:
    """Run :func:`check_dataset` on the dataloaders of ``splits`` that the config has."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if loader and loader.get('dataset') is not None:
            check_dataset(loader['dataset'], f'{split}_dataloader.dataset')


def _pretrained_paths(node, where='model'):
    """Yield (place, path) of every local ``Pretrained`` checkpoint a model config names."""
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
            yield where + '.checkpoint', node['checkpoint']
        if isinstance(node.get('pretrained'), str):
            yield where + '.pretrained', node['pretrained']
        for key, value in node.items():
            yield from _pretrained_paths(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _pretrained_paths(value, f'{where}[{i}]')


def check_pretrained(cfg) -> None:
    """Fail before training when a local pretrained checkpoint the model starts from is
    missing (mmengine would only find out after building the model, or warn and go on)."""
    for where, path in _pretrained_paths(cfg.get('model')):
        if '://' in path or osp.isfile(path):
            continue
        scratch = where[:-len('.checkpoint')] if where.endswith('.checkpoint') else where
        raise FileNotFoundError(
            f'{where} = {path!r}: no such file. This config fine-tunes a pretrained backbone: '
            f'make it first with tools/train.py on the matching ImageNet config (for '
            f'work_dirs/<name>_in1k/... that is configs/<name>_in1k.py), or convert the '
            f'official weights (tools/convert_funnelact.py), or point the config at your '
            f'checkpoint with --cfg-options {where}=PATH (or train from scratch with '
            f'--cfg-options {scratch}=None).')


def check_fresh_work_dir(work_dir: str, resume: bool) -> None:
    """Refuse to start a new run on top of a work dir that holds a run's checkpoints."""
    if resume or not osp.isdir(work_dir):
        return
    checkpoints = [f for f in os.listdir(work_dir) if f.endswith('.pth')]
    if checkpoints:
        raise FileExistsError(
            f'work dir {work_dir!r} already holds checkpoints of a run ({sorted(checkpoints)[:3]}'
            f'...). Pass --resume to continue it, or --work-dir NEW_DIR for a new run; '
            f'nothing was overwritten.')


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint for inspection with ``weights_only`` on, with clear errors."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} not found; pass the .pth file written by '
                                f'tools/train.py (e.g. work_dirs/<config>/iter_N.pth)')
    from .safe_checkpoint import UnsafeCheckpointError, load_checkpoint_file
    try:
        ckpt = load_checkpoint_file(path, map_location='cpu')
    except UnsafeCheckpointError as e:
        raise ValueError(f'checkpoint {path!r}: {e}') from e
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ValueError(f'checkpoint {path!r} cannot be read ({type(e).__name__}: {e}); it is '
                         f'truncated or not a PyTorch checkpoint. Use another checkpoint of '
                         f'the run (e.g. the previous iter_*.pth).') from e
    if not isinstance(ckpt, dict):
        raise ValueError(f'checkpoint {path!r} is a {type(ckpt).__name__}, not a state dict')
    return ckpt


def check_checkpoint_fits(model: torch.nn.Module, ckpt: dict, path: str) -> None:
    """Fail when a checkpoint's weights do not belong to ``model``'s architecture
    (mmengine would only warn and test a half-random model).

    Args:
        model (nn.Module): the model built from the config.
        ckpt (dict): the checkpoint, as :func:`read_checkpoint` returns it.
        path (str): its file, for the message.
    """
    state = ckpt.get('state_dict', ckpt)
    model_state = model.state_dict()
    missing = [k for k in model_state if k not in state]
    mismatched = [k for k in model_state if k in state and hasattr(state[k], 'shape')
                  and tuple(state[k].shape) != tuple(model_state[k].shape)]
    if missing or mismatched:
        raise ValueError(
            f'checkpoint {path!r} does not fit this config: {len(missing)} of the model\'s '
            f'{len(model_state)} weights missing (e.g. {missing[:3]}), {len(mismatched)} '
            f'with another shape (e.g. {mismatched[:3]}). Test with the config the '
            f'checkpoint was trained with.')


def check_amp_device() -> None:
    """``--amp`` needs a GPU: mmengine's AmpOptimWrapper asserts CUDA (or NPU/MLU)."""
    if not torch.cuda.is_available():
        raise SystemExit('--amp needs a GPU: mmengine 0.10.7 builds AmpOptimWrapper only with '
                         'CUDA (or NPU/MLU), and this machine has none. Train without --amp '
                         'here (float32); FReLU itself runs under torch.autocast on CPU (bf16) '
                         'and GPU (fp16/bf16), as tests/test_amp_and_devices.py checks.')


def repair_last_checkpoint(work_dir: str) -> Optional[str]:
    """Point ``work_dir/last_checkpoint`` at the newest readable ``iter_N.pth`` or
    ``epoch_N.pth`` of the work dir where it is empty or names a missing file. A run
    killed while mmengine rewrote it, just after saving a checkpoint, leaves it empty, and
    ``--resume`` would then stop. The file is replaced whole, and no checkpoint is touched.

    Returns:
        str or None: the checkpoint it now names, or None if it needed no repair (or
        does not exist).
    """
    latest = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(latest):
        return None
    with open(latest) as f:
        named = f.read().strip()
    if named and osp.isfile(named):
        return None
    numbered = [(int(m.group(2)), name) for name in os.listdir(work_dir)
                if (m := re.fullmatch(r'(iter|epoch)_(\d+)\.pth', name))]
    for _, name in sorted(numbered, reverse=True):
        path = osp.join(work_dir, name)
        try:
            read_checkpoint(path)
        except ValueError:  # truncated: killed while saving it
            continue
        atomic_write(latest, path)
        return path
    raise FileNotFoundError(
        f'{latest} names {named!r}, which is not a file, and {work_dir!r} holds no readable '
        f'iter_*.pth or epoch_*.pth to resume from. Pass --resume PATH with a checkpoint of '
        f'the run, or train anew with --work-dir NEW_DIR.')
