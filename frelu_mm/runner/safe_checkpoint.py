"""Let ``torch.load(weights_only=True)`` read mmengine runner checkpoints.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; torch >= 2.6 then
loads with ``weights_only=True`` and refuses a runner checkpoint's message hub
(``HistoryBuffer``) and numpy state. Rather than switching the protection off
(which would let a checkpoint run code), allow exactly what those checkpoints hold:
numpy arrays, dtypes and scalars, ``HistoryBuffer``, and ``getattr`` restricted to
fetching HistoryBuffer's statistics methods (how its ``statistics_methods`` dict
pickles).
"""
import collections

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


# HistoryBuffer's built-in statistics; its class registry fills only on first use
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj, name):
    """``getattr`` as a checkpoint may call it: only HistoryBuffer's statistics."""
    allowed = (*BUILTIN_STATISTICS, *HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise torch.serialization.pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
        f'methods are allowed. The file is not a plain mmengine checkpoint: do not load '
        f'it unless you trust its source.')


def _numpy_globals():
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    found = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
             # checkpoints written with numpy 1.x name these numpy.core.multiarray.*
             (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
             (multiarray.scalar, 'numpy.core.multiarray.scalar')]
    # numpy >= 1.25 pickles dtypes as instances of numpy.dtypes.*DType classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return found


def runner_checkpoint_globals():
    """The globals an mmengine runner checkpoint (meta, message hub, optimizer) needs."""
    import codecs
    return [HistoryBuffer, collections.OrderedDict, collections.defaultdict, codecs.encode,
            (history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]


def allow_runner_checkpoints() -> None:
    """Allow-list the runner checkpoint globals for ``weights_only`` loading."""
    torch.serialization.add_safe_globals(runner_checkpoint_globals())
