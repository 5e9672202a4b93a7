"""Checkpoints load weights-only on every torch: runner checkpoints pass, code is refused.

Both loading paths run on whichever torch runs the suite: torch's own weights-only
unpickler (torch >= 2.5) through :func:`load_checkpoint_file`, and the restricted
unpickler (what torch 2.1-2.4 use) by handing it to ``torch.load`` directly.
"""
import collections
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint

import frelu_mm  # noqa: F401  (installs the safe local loader)
from frelu_mm.runner.safe_checkpoint import (TORCH_ALLOWS_GLOBALS, UnsafeCheckpointError,
                                             load_checkpoint_file, restricted_pickle)


class RunsCode:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


class AsksForGetattr:
    """getattr is allowed only for HistoryBuffer's statistics: anything else is refused."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (getattr, (HistoryBuffer, 'register_statistics'))


def runner_like_checkpoint():
    """What mmengine's Runner.save_checkpoint writes: weights, meta, message hub, numpy."""
    hub = MessageHub('safe_ckpt_test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', 0.25)
    return {'meta': {'epoch': 1, 'iter': 2, 'seed': np.int64(7),
                     'dataset_meta': {'classes': ('a', 'b')}},
            'state_dict': {'w': torch.randn(3, 3)},
            'message_hub': hub.state_dict(),
            'optimizer': {'state': {}, 'param_groups': [{'lr': np.float64(0.1)}]},
            # MultiStepLR keeps its milestones in a Counter
            'param_schedulers': [{'milestones': collections.Counter({30: 1, 60: 1})}],
            'rng': np.random.get_state()}


def load_with_restricted_unpickler(path):
    return torch.load(path, map_location='cpu', pickle_module=restricted_pickle,
                      weights_only=False)


LOADERS = {
    'load_checkpoint_file': lambda p: load_checkpoint_file(str(p), map_location='cpu'),
    'restricted_unpickler': load_with_restricted_unpickler,
    'mmengine _load_checkpoint': lambda p: _load_checkpoint(str(p), map_location='cpu'),
}


@pytest.mark.parametrize('loader', LOADERS)
@pytest.mark.parametrize('zipfile', [True, False], ids=['zip', 'legacy'])
def test_runner_checkpoint_loads(tmp_path, loader, zipfile):
    ckpt = runner_like_checkpoint()
    path = tmp_path / 'iter_2.pth'
    torch.save(ckpt, path, _use_new_zipfile_serialization=zipfile)
    got = LOADERS[loader](path)
    assert torch.equal(got['state_dict']['w'], ckpt['state_dict']['w'])
    assert got['meta']['seed'] == 7
    buffer = got['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.mean() == pytest.approx(0.375)
    assert np.array_equal(got['rng'][1], ckpt['rng'][1])
    assert got['param_schedulers'][0]['milestones'] == collections.Counter({30: 1, 60: 1})


@pytest.mark.parametrize('loader', LOADERS)
@pytest.mark.parametrize('payload', [RunsCode, AsksForGetattr])
def test_pickle_that_runs_code_is_refused(tmp_path, loader, payload):
    marker = str(tmp_path / 'pwned')
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': payload(marker)}, path, pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError, match='could run code|Unsupported global|'
                       'Weights only load failed'):
        LOADERS[loader](path)
    assert not osp.exists(marker), 'the checkpoint ran code'


def test_refused_through_load_checkpoint_into_a_model(tmp_path):
    """The path of init_detector / init_model / Runner(load_from=...)."""
    marker = str(tmp_path / 'pwned')
    path = tmp_path / 'evil.pth'
    model = torch.nn.Linear(2, 2)
    torch.save({'state_dict': model.state_dict(), 'meta': RunsCode(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match='could run code'):
        load_checkpoint(model, str(path), map_location='cpu')
    assert not osp.exists(marker)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'meta': np.array([{'a': 1}], dtype=object)}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_with_restricted_unpickler(path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_file(str(path))


def test_which_path_this_torch_takes():
    """torch >= 2.5 uses its own unpickler with our allow-list; older ones ours."""
    major, minor = (int(v) for v in torch.__version__.split('.')[:2])
    assert TORCH_ALLOWS_GLOBALS == ((major, minor) >= (2, 5))
