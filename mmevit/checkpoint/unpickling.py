"""What an mmengine checkpoint holds besides tensors, rebuilt from data only.

torch's weights-only unpickler calls every global it allows and lets ``BUILD`` set the state
of any instance of an allowed type. mmengine checkpoints need numpy arrays, numpy scalars
and :class:`~mmengine.logging.HistoryBuffer`; allowing those types themselves would let a
pickle call ``numpy.ndarray((1,), 'O', b'<8 bytes>')`` (an object array over a pointer the
file chose), ``BUILD`` a numeric dtype into an object dtype, or run
``HistoryBuffer.__setstate__``, which re-binds the statistics methods every buffer of the
process shares. So the names a checkpoint uses for them are served by stand-ins that accept
exactly what numpy and mmengine write, check it, and rebuild the objects from plain data:

- ``numpy.ndarray`` only as the first argument of ``_reconstruct``; calling it is refused;
- ``numpy.dtype``: numeric dtypes with numpy's own pickled state (byte order aside);
- ``_reconstruct`` + ``BUILD``: a numeric array from bytes of exactly its size;
- ``scalar``: a numeric scalar from bytes of exactly its size;
- ``HistoryBuffer``: 1-D numeric histories of equal length, a positive ``max_length`` and
  the default statistics methods only, built without ``__setstate__``;
- ``getattr``: only ``HistoryBuffer.min``/``max``/``mean``/``current``;
- ``bytes``: only ``bytes()`` (numpy writes an empty array's data that way).

numpy 1.x (``numpy.core.multiarray``) and 2.x (``numpy._core.multiarray``) names are both
served. A stand-in that refuses raises :class:`Refused`, naming the operation.
"""
import math
from typing import Any, Dict, Iterable, List, Set, Tuple

import numpy as np
from mmengine.logging import HistoryBuffer


class Refused(Exception):
    """The pickle asks for an operation outside the allow-list (named in the message)."""


_NUMERIC_DTYPES = ('b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8',
                   'c8', 'c16')
_STATISTICS = ('min', 'max', 'mean', 'current')


class NumpyDtype:
    """Stands for ``numpy.dtype``: ``dtype(name, False, True)`` then ``BUILD`` with numpy's
    state for that dtype; :attr:`dtype` is the real one once built."""

    def __init__(self, name=None, align=False, copy=True):
        if name not in _NUMERIC_DTYPES or align is not False or copy is not True:
            raise Refused(f'numpy.dtype({name!r}, {align!r}, {copy!r}): only the numeric '
                          f'dtypes {list(_NUMERIC_DTYPES)} are allowed')
        self.name = name
        self.dtype = None

    def __setstate__(self, state):
        expected = np.dtype(self.name).__reduce__()[2]
        plain = isinstance(state, tuple) and all(
            type(v) in (int, str, type(None)) for v in state)
        if (not plain or len(state) != len(expected) or state[0] != expected[0]
                or state[2:] != expected[2:] or state[1] not in ('<', '>', '|', '=')):
            raise Refused(f'numpy dtype {self.name!r} built with the state {state!r}; numpy '
                          f'writes {expected!r}')
        dtype = np.dtype(self.name)
        self.dtype = dtype.newbyteorder(state[1]) if state[1] in '<>' else dtype


def _dtype_of(value) -> np.dtype:
    if not isinstance(value, NumpyDtype) or value.dtype is None:
        raise Refused(f'a numpy array or scalar of dtype {value!r}: not a built numeric dtype')
    return value.dtype


class NumpyArrayType:
    """Stands for ``numpy.ndarray``, which checkpoints name only as the first argument of
    ``_reconstruct``. Calling it is refused: with an object dtype and a buffer it makes an
    array whose elements are pointers the file chose."""

    def __new__(cls, *args, **kwargs):
        raise Refused('a call of numpy.ndarray (an array over raw memory the file chose)')


class NumpyArray:
    """What ``_reconstruct`` returns: an empty array that ``BUILD`` fills from
    ``(1, shape, dtype, is_fortran, data)``; :attr:`result` is the array once built."""

    def __init__(self):
        self.result = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise Refused(f'a numpy array built with {type(state).__name__} state; numpy '
                          f'writes (1, shape, dtype, is_fortran, data)')
        _, shape, dtype, is_fortran, data = state
        dtype = _dtype_of(dtype)
        if (not isinstance(shape, tuple) or not all(
                type(n) is int and n >= 0 for n in shape) or type(is_fortran) is not bool):
            raise Refused(f'a numpy array of shape {shape!r} (fortran order {is_fortran!r})')
        if type(data) is not bytes or len(data) != math.prod(shape) * dtype.itemsize:
            size = len(data) if type(data) is bytes else type(data).__name__
            raise Refused(f'a numpy array of shape {shape} and dtype {dtype} over {size} '
                          f'bytes of data (it needs {math.prod(shape) * dtype.itemsize})')
        self.result = np.frombuffer(data, dtype=dtype).reshape(
            shape, order='F' if is_fortran else 'C').copy()


def reconstruct_array(cls, shape, typecode):
    """Stands for numpy's ``_reconstruct(ndarray, (0,), b'b')``, the start of every pickled
    array."""
    if cls is not NumpyArrayType or shape != (0, ) or typecode not in (b'b', 'b'):
        raise Refused(f'numpy _reconstruct{(cls, shape, typecode)!r}; numpy writes '
                      f'_reconstruct(ndarray, (0,), b"b")')
    return NumpyArray()


def numpy_scalar(dtype, data=None):
    """Stands for numpy's ``scalar(dtype, data)``: a numeric scalar from its bytes."""
    dtype = _dtype_of(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        raise Refused(f'a numpy {dtype} scalar from {data!r}')
    return np.frombuffer(data, dtype=dtype)[0]


def empty_bytes(*args):
    """Stands for ``bytes``, which pickle protocol 2 calls without arguments for ``b''``."""
    if args:
        raise Refused(f'a call of bytes with arguments {args!r}')
    return b''


class StatisticsMethod:
    """What ``getattr(HistoryBuffer, name)`` stands for: one of its default statistics."""

    def __init__(self, name: str):
        self.name = name


def history_buffer_getattr(obj, name):
    """Stands for ``builtins.getattr``, which pickle protocol 2 writes for the statistics
    methods a HistoryBuffer's state lists; nothing else may be looked up."""
    if obj is HistoryBufferState and name in _STATISTICS:
        return StatisticsMethod(name)
    target = 'HistoryBuffer' if obj is HistoryBufferState else getattr(obj, '__name__', obj)
    raise Refused(f'getattr({target}, {name!r}): only HistoryBuffer.{"/".join(_STATISTICS)} '
                  f'may be looked up')


class HistoryBufferState:
    """Stands for mmengine's ``HistoryBuffer``: ``NEWOBJ`` then ``BUILD`` with its
    ``__dict__``. The state is checked and :attr:`result` built without
    ``HistoryBuffer.__setstate__``, so nothing outside the new buffer changes."""

    def __new__(cls, *args):
        if args:
            raise Refused(f'HistoryBuffer created with arguments {args!r}')
        return super().__new__(cls)

    def __init__(self, *args):
        self.result = None

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise Refused(f'a HistoryBuffer built with {type(state).__name__} state')
        required = {'max_length', '_log_history', '_count_history'}
        keys = set(state)
        if not required <= keys <= required | {'statistics_methods'}:
            raise Refused(f'a HistoryBuffer with the state keys {sorted(map(str, keys))}; '
                          f'mmengine writes {sorted(required)} and statistics_methods')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                not isinstance(m, StatisticsMethod) or m.name != name
                for name, m in methods.items()):
            raise Refused(f'a HistoryBuffer whose statistics methods are {methods!r}; only '
                          f'its own defaults may be listed')
        max_length = state['max_length']
        histories = [finish(state[k]) for k in ('_log_history', '_count_history')]
        if type(max_length) is not int or max_length < 1 or not all(
                isinstance(h, np.ndarray) and h.ndim == 1 and h.dtype.kind in 'biuf'
                for h in histories) or len(histories[0]) != len(histories[1]):
            raise Refused(f'a HistoryBuffer with max_length {max_length!r} and histories '
                          f'{[type(h).__name__ for h in histories]}: it needs two 1-D '
                          f'numeric arrays of equal length')
        buffer = HistoryBuffer.__new__(HistoryBuffer)
        buffer.__dict__.update(max_length=max_length, _log_history=histories[0],
                               _count_history=histories[1])
        buffer._set_default_statistics()  # setdefault of mmengine's own methods only
        self.result = buffer


_BUILT = (NumpyDtype, NumpyArray, HistoryBufferState)


def finish(obj: Any) -> Any:
    """``obj`` with every stand-in replaced by what it built (containers in place)."""
    if isinstance(obj, _BUILT):
        result = obj.dtype if isinstance(obj, NumpyDtype) else obj.result
        if result is None:
            raise Refused(f'an incomplete {type(obj).__name__} (never built)')
        return result
    if isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = finish(value)
    elif isinstance(obj, list):
        obj[:] = [finish(v) for v in obj]
    elif isinstance(obj, tuple):
        return type(obj)(finish(v) for v in obj) if type(obj) is tuple else obj
    elif isinstance(obj, set):
        return {finish(v) for v in obj}
    return obj


def _both_numpy_names(name: str) -> List[str]:
    return [f'numpy.core.multiarray.{name}', f'numpy._core.multiarray.{name}']


#: The stand-ins, under the names pickles use for what they stand for.
STAND_INS: Dict[str, Any] = {
    'numpy.ndarray': NumpyArrayType,
    'numpy.dtype': NumpyDtype,
    **{n: reconstruct_array for n in _both_numpy_names('_reconstruct')},
    **{n: numpy_scalar for n in _both_numpy_names('scalar')},
    'mmengine.logging.history_buffer.HistoryBuffer': HistoryBufferState,
    'builtins.getattr': history_buffer_getattr,
    'builtins.bytes': empty_bytes,
}

#: torch's unpickler lets ``BUILD`` reach instances of allowed types only: the arrays
#: ``_reconstruct`` returns are registered under a name no checkpoint uses (and the scan of
#: a file's globals refuses).
BUILD_TARGETS = [(NumpyArray, 'mmevit.checkpoint.unpickling.NumpyArray')]


def pickle_globals(opcodes: Iterable[Tuple[Any, Any, int]]) -> Set[str]:
    """The ``module.name`` of every global a pickle names (``GLOBAL``; ``STACK_GLOBAL`` from
    the two strings before it), with Python 2 module names mapped as the unpickler maps
    them."""
    import _compat_pickle
    names, strings = set(), []
    for opcode, arg, _ in opcodes:
        if opcode.name == 'GLOBAL':
            module, name = arg.split(' ', 1)
        elif opcode.name == 'STACK_GLOBAL':
            module, name = (strings[-2:] + ['?', '?'])[:2] if len(strings) >= 2 else ('?', '?')
        else:
            if isinstance(arg, str):
                strings.append(arg)
            continue
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        names.add(f'{module}.{name}')
    return names
