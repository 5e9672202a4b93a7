"""Load checkpoints without letting them run code, on every supported torch.

A ``.pth`` file is a pickle, and a pickle can call any function it names. torch >= 2.6
loads with ``weights_only=True`` by default, which refuses a runner checkpoint's
message hub (``HistoryBuffer``) and numpy state; torch < 2.6 (and mmengine 0.10.7,
which calls ``torch.load`` without ``weights_only``) loads anything.

Here, both ways end in weights-only loading that accepts exactly what an mmengine
checkpoint holds (tensors, containers, numpy arrays and scalars, ``HistoryBuffer``,
and ``getattr`` restricted to HistoryBuffer's statistics methods):

- torch >= 2.5: torch's own weights-only unpickler with those globals allow-listed
  (``torch.serialization.add_safe_globals``);
- torch 2.1-2.4: an unpickler of our own that resolves only torch's weights-only
  globals plus the same list, handed to ``torch.load`` as its ``pickle_module``.

:func:`install_safe_local_loader` (run by ``import frelu_mm``) makes mmengine's loader
for local files use :func:`load_checkpoint_file`, so ``Runner`` (``load_from``,
``resume``), ``init_cfg=dict(type='Pretrained')`` and the toolkits' inference APIs
(``init_detector``, ``DetInferencer``, ``init_model``, ``MMSegInferencer``, ...) load
``tools/train.py`` checkpoints and refuse a pickle that runs code, on every torch.
"""
import _compat_pickle
import collections
import functools
import io
import os.path as osp
import pickle
import types
from typing import Any, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# HistoryBuffer's built-in statistics; its class registry fills only on first use
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')
# torch >= 2.5: add_safe_globals (2.4+) taking (object, 'module.name') pairs, as we need
TORCH_ALLOWS_GLOBALS = hasattr(torch.serialization, 'safe_globals')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint names a global that plain weights and training state never need."""


def refusal_message(what: str, source: str = 'the checkpoint') -> str:
    return (f'{source} asks for {what}, which plain weights and training state never '
            f'need: loading it could run code, so it was refused. If you trust its source, '
            f'load it yourself with torch.load(..., weights_only=False) and save only its '
            f"weights: torch.save({{'state_dict': ckpt['state_dict']}}, 'clean.pth').")


def history_buffer_getattr(obj, name):
    """``getattr`` as a checkpoint may call it: only HistoryBuffer's statistics."""
    allowed = (*BUILTIN_STATISTICS, *HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise UnsafeCheckpointError(refusal_message(f'getattr({obj!r}, {name!r})'))


def _numpy_globals():
    try:  # numpy 2 (numpy 1.26 has a shim of the same name)
        from numpy._core import multiarray
    except ImportError:  # older numpy 1.x
        from numpy.core import multiarray
    found = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    # pickles name the module of the numpy that wrote them: numpy.core (1.x), numpy._core (2.x)
    for root in ('numpy.core', 'numpy._core'):
        found += [(multiarray._reconstruct, f'{root}.multiarray._reconstruct'),
                  (multiarray.scalar, f'{root}.multiarray.scalar')]
    # numpy >= 1.25 pickles dtypes as instances of numpy.dtypes.*DType classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [(getattr(dtypes, name), f'numpy.dtypes.{name}') for name in dir(dtypes)
                  if name.endswith('DType') and name != 'ObjectDType']
    return found


def runner_checkpoint_globals():
    """The globals an mmengine runner checkpoint (meta, message hub, optimizer) needs."""
    import codecs
    # Counter: the milestones of MultiStepLR's state (torch 2.1's own list lacks it)
    return [HistoryBuffer, collections.OrderedDict, collections.defaultdict,
            collections.Counter, codecs.encode,
            (history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]


def allow_runner_checkpoints() -> None:
    """Allow-list the runner checkpoint globals in torch's weights-only loading.

    A no-op before torch 2.5, where :func:`load_checkpoint_file` does the restricting.
    """
    if TORCH_ALLOWS_GLOBALS:
        torch.serialization.add_safe_globals(runner_checkpoint_globals())


def _qualified(obj) -> str:
    return f'{obj.__module__}.{obj.__qualname__}'


@functools.lru_cache(maxsize=None)
def allowed_globals() -> dict:
    """``'module.name' -> object`` for the restricted unpickler (torch < 2.5)."""
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    for entry in runner_checkpoint_globals():
        obj, name = entry if isinstance(entry, tuple) else (entry, _qualified(entry))
        allowed[name] = obj
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-listed globals, by name, before any call."""

    def find_class(self, module: str, name: str) -> Any:
        # protocol-2 pickles (torch.save's default) use Python 2 names, e.g. __builtin__
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = allowed_globals().get(f'{module}.{name}')
        if found is None:
            raise UnsafeCheckpointError(refusal_message(f'the global {module}.{name}'))
        if isinstance(found, np.dtype) or found is np.dtype:
            return _checked_dtype
        return found


def _checked_dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise UnsafeCheckpointError(refusal_message(f'numpy dtype {dtype!r} (Python objects)'))
    return dtype


def _restricted_load(file, **kwargs):
    return RestrictedUnpickler(file, **kwargs).load()


# what torch.load needs of a pickle_module: Unpickler, and load for the legacy format
restricted_pickle = types.SimpleNamespace(__name__='frelu_mm_restricted_pickle',
                                          Unpickler=RestrictedUnpickler,
                                          load=_restricted_load)


def load_checkpoint_file(file: Union[str, io.IOBase], map_location=None) -> Any:
    """``torch.load`` with weights-only semantics on every torch version.

    Raises:
        UnsafeCheckpointError: the file names a global outside the allow-list.
    """
    if TORCH_ALLOWS_GLOBALS:
        allow_runner_checkpoints()
        try:
            return torch.load(file, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            if 'Weights only load failed' in str(e) and not isinstance(e, UnsafeCheckpointError):
                source = f'checkpoint {file!r}' if isinstance(file, str) else 'the checkpoint'
                raise UnsafeCheckpointError(
                    refusal_message('objects other than weights', source) +
                    f'\n(torch said: {str(e).splitlines()[0]})') from e
            raise
    return torch.load(file, map_location=map_location, pickle_module=restricted_pickle,
                      weights_only=False)


def load_from_local_safely(filename: str, map_location=None) -> Any:
    """mmengine's loader for local paths, with :func:`load_checkpoint_file`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location=map_location)


def install_safe_local_loader() -> None:
    """Route mmengine's local checkpoint loading through :func:`load_checkpoint_file`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
