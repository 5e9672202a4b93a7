"""Read a pickle of numpy arrays without letting it run code.

``pickle.load`` calls whatever callables the file names, so a downloaded
checkpoint can run arbitrary code (``os.system`` via ``__reduce__``). The
unpickler here resolves only the globals numpy needs to rebuild arrays (and the
container types a state dict uses); any other global is refused by name before
anything is called.
"""
import collections
import io
import pickle
from typing import Any, BinaryIO, Union

import numpy as np

try:  # numpy >= 2 moved the private modules; pickles name whichever wrote them
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle named a global outside the numpy-array allow-list."""


def _checked_dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise RefusedGlobalError(
            f'refused numpy dtype {dtype!r}: object arrays hold arbitrary Python objects, '
            f'not weights')
    return dtype


def _latin1_encode(text, encoding='latin1', *args):
    # Protocol-2 pickles (and numpy's array state in them) carry bytes as
    # ``_codecs.encode(str, 'latin1')``; no other codec is needed for that.
    if encoding not in ('latin1', 'latin-1') or args:
        raise RefusedGlobalError(
            f'refused _codecs.encode with encoding {encoding!r}: only latin1 is allowed')
    return text.encode('latin1')


def _allowed_globals() -> dict:
    numpy_fns = {'_reconstruct': _multiarray._reconstruct,
                 'scalar': _multiarray.scalar,
                 '_frombuffer': _numeric._frombuffer}
    allowed = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('numpy', 'ndarray'): np.ndarray,
        ('numpy', 'dtype'): _checked_dtype,
        ('_codecs', 'encode'): _latin1_encode,
    }
    for root in ('numpy.core', 'numpy._core'):
        allowed[(f'{root}.multiarray', '_reconstruct')] = numpy_fns['_reconstruct']
        allowed[(f'{root}.multiarray', 'scalar')] = numpy_fns['scalar']
        allowed[(f'{root}.numeric', '_frombuffer')] = numpy_fns['_frombuffer']
    # numpy >= 1.25 pickles dtypes of its scalar types as e.g. numpy.dtypes.Float32DType
    for name in dir(np.dtypes) if hasattr(np, 'dtypes') else ():
        cls = getattr(np.dtypes, name)
        if name.endswith('DType') and name != 'ObjectDType' and isinstance(cls, type):
            allowed[('numpy.dtypes', name)] = cls
    return allowed


ALLOWED_GLOBALS = _allowed_globals()


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dicts, lists, tuples and scalars.

    Args:
        file (BinaryIO): the open pickle, read in binary mode.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobalError(
                f'refused global {module}.{name}: this reader only allows numpy array '
                f'reconstruction (a MegEngine state dict is a dict of numpy arrays); the '
                f'file is either not such a checkpoint or tries to run code on load') from None

    def persistent_load(self, pid):
        raise RefusedGlobalError(
            f'refused persistent id {pid!r}: a pickle of numpy arrays has none (a PyTorch '
            f'checkpoint does; this is not a MegEngine pickle)')


def load_numpy_pickle(source: Union[str, bytes, BinaryIO]) -> Any:
    """Load a pickle that may contain only numpy arrays and plain containers.

    Args:
        source (str | bytes | BinaryIO): a file path, the pickle's bytes, or an open
            binary file.

    Returns:
        The unpickled object (for a MegEngine state dict: a dict name -> ndarray).

    Raises:
        RefusedGlobalError: the pickle names a global outside the allow-list; the
            message names it. Nothing it names has been called.
        pickle.UnpicklingError: the data is not a readable pickle.
    """
    if isinstance(source, (bytes, bytearray)):
        return _load(io.BytesIO(source), '<bytes>')
    if isinstance(source, str):
        with open(source, 'rb') as f:
            return _load(f, source)
    return _load(source, getattr(source, 'name', '<stream>'))


def _load(f: BinaryIO, label: str) -> Any:
    head = f.read(4)
    f.seek(0)
    if head[:2] == b'PK':
        raise pickle.UnpicklingError(
            f'{label} is a zip archive (a PyTorch checkpoint?), not a MegEngine pickle')
    try:
        return NumpyOnlyUnpickler(f).load()
    except RefusedGlobalError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            KeyError, AttributeError, UnicodeDecodeError) as e:
        raise pickle.UnpicklingError(f'{label} is not a readable pickle of numpy arrays: '
                                     f'{type(e).__name__}: {e}') from e
