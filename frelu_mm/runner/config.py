"""Load a config of this project, mmdet, mmseg or mmpretrain, the way their tools do."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

TOOLKITS = ('mmdet', 'mmseg', 'mmpretrain')


def load_config(path: str, cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None, launcher: str = 'none') -> Config:
    """Read ``path``, apply ``--cfg-options`` and pick the work dir.

    Args:
        path (str): config file.
        cfg_options (dict | None): ``--cfg-options`` overrides.
        work_dir (str | None): ``--work-dir``; otherwise the config's, otherwise
            ``work_dirs/<config name>`` as in the host tools.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.

    Returns:
        Config: with ``work_dir`` and ``launcher`` set.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} not found; pass a path such as '
                                f'configs/retinanet_frelu.py')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in TOOLKITS:
        raise ValueError(f'{path}: default_scope is {scope!r}; these tools run configs '
                         f"of {TOOLKITS} (inherit an mmdet::, mmseg:: or mmpretrain:: config)")
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg
