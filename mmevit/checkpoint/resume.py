"""Which checkpoint a run resumes from, and the checkpoint text it never executes.

:func:`find_resumable_checkpoint` picks the newest training checkpoint of a work dir that
loads, by the epoch or iteration in its name: mmengine writes ``last_checkpoint`` after the
rename of the checkpoint it names, so a run killed in between leaves it naming the previous
one, and a crash while it is written can leave it empty or garbled. It is a hint only: its
target is one more candidate (the one place that names a checkpoint kept in another
``out_dir``).

mmengine executes config text that checkpoints carry: ``Runner.resume`` runs
``meta['config']`` through ``Config.fromstring(..., '.py')``, and the inferencers
``meta['cfg']`` or ``message_hub['runtime_info']['cfg']`` when given no config. mmengine
writes that text as plain data (assignments of literals and ``dict(...)``), so
:func:`neutralize_config_texts` keeps only what a literal-only parser reads there, rewritten
from the parsed values, without ``_base_`` and ``custom_imports`` (inheritance and imports
are behaviour); text that is not plain data is dropped, with a log line.
"""
import ast
import logging
import math
import os
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

from mmengine.logging import print_log

from .errors import CheckpointError
from .loading import safe_torch_load

_NUMBERED = re.compile(r'(epoch|iter)_(\d+)\.pth')


def require_training_checkpoint(checkpoint: Any, filename: str) -> None:
    """Raise CheckpointError unless ``checkpoint`` is what mmengine's training saves
    (``meta`` with ``epoch`` and ``iter``, and a ``state_dict``)."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or not {'epoch', 'iter'} <= meta.keys() or not isinstance(
            checkpoint.get('state_dict'), dict):
        raise CheckpointError(
            f'{filename} is not a training checkpoint (it lacks meta.epoch/meta.iter or '
            f'state_dict: weights only?): start from it with load_from instead of resuming')


def _last_checkpoint_hint(work_dir: str) -> Optional[str]:
    marker = osp.join(work_dir, 'last_checkpoint')
    try:
        with open(marker, 'rb') as f:
            text = f.read(4096).decode('utf-8', errors='replace').strip()
    except OSError:
        return None
    return text if text and '\ufffd' not in text and '\x00' not in text else None


def checkpoints_newest_first(work_dir: str) -> List[str]:
    """``epoch_N.pth``/``iter_N.pth`` of ``work_dir`` (and of the folder ``last_checkpoint``
    names) by falling N; a ``last_checkpoint`` target of another name comes first."""
    hint = _last_checkpoint_hint(work_dir)
    folders = {osp.abspath(work_dir)}
    if hint and osp.isdir(osp.dirname(osp.abspath(hint))):
        folders.add(osp.dirname(osp.abspath(hint)))
    numbered = {}
    for folder in folders:
        for name in os.listdir(folder):
            match = _NUMBERED.fullmatch(name)
            if match:
                numbered[osp.join(folder, name)] = int(match.group(2))
    paths = sorted(numbered, key=lambda p: (numbered[p], p), reverse=True)
    if hint and osp.abspath(hint) not in map(osp.abspath, paths) and osp.isfile(hint):
        paths.insert(0, hint)
    return paths


def find_resumable_checkpoint(work_dir: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The newest training checkpoint of ``work_dir`` that loads, and those skipped.

    Returns:
        tuple: The path (None when none loads, or there is none) and ``(path, reason)`` for
        every newer candidate that failed to load, for any reason.
    """
    if not osp.isdir(work_dir):
        return None, []
    skipped = []
    for path in checkpoints_newest_first(work_dir):
        try:
            require_training_checkpoint(safe_torch_load(path, map_location='cpu'), path)
        except Exception as err:  # noqa: B902  any failure skips the candidate
            skipped.append((path, str(err) or type(err).__name__))
            continue
        return path, skipped
    return None, skipped


# ---------------------------------------------------------------- config text as data

_DIRECTIVES = ('_base_', 'custom_imports')


def _literal(node: ast.AST) -> Any:
    """The value of a literal expression (``dict(...)`` included), else ValueError."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, type(Ellipsis)):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(e) for e in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(k.arg is not None for k in node.keywords)):
        return {k.arg: _literal(k.value) for k in node.keywords}
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float, complex)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    raise ValueError(f'line {getattr(node, "lineno", "?")}: {type(node).__name__} is not '
                     f'plain data')


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(k) and _finite(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return all(_finite(v) for v in value)
    return True


def config_text_as_data(text: str) -> Tuple[str, List[str]]:
    """``text`` read with a literal-only parser and written again from the values, and the
    directives (``_base_``, ``custom_imports``) left out.

    Raises:
        ValueError: ``text`` is anything but assignments of plain data to names.
    """
    values: Dict[str, Any] = {}
    for statement in ast.parse(text).body:
        if (not isinstance(statement, ast.Assign) or len(statement.targets) != 1
                or not isinstance(statement.targets[0], ast.Name)):
            raise ValueError(f'line {statement.lineno}: {type(statement).__name__} is not an '
                             f'assignment of data to a name')
        values[statement.targets[0].id] = _literal(statement.value)
    dropped = [k for k in values if k in _DIRECTIVES or not _finite(values[k])]
    return ''.join(f'{k} = {v!r}\n' for k, v in values.items() if k not in dropped), dropped


def neutralize_config_texts(checkpoint: Any, source: str) -> Any:
    """Replace the config texts ``checkpoint`` carries (``meta.config``, ``meta.cfg``,
    ``message_hub.runtime_info.cfg``) by :func:`config_text_as_data` of them, or drop them
    when they are not plain data; one log line per change. Returns ``checkpoint``."""
    if not isinstance(checkpoint, dict):
        return checkpoint
    places = [(checkpoint.get('meta'), 'meta', 'config'), (checkpoint.get('meta'), 'meta', 'cfg')]
    hub = checkpoint.get('message_hub')
    if isinstance(hub, dict):
        places.append((hub.get('runtime_info'), 'message_hub.runtime_info', 'cfg'))
    for holder, where, key in places:
        if not isinstance(holder, dict) or key not in holder:
            continue
        try:
            if not isinstance(holder[key], str):
                raise ValueError(f'a {type(holder[key]).__name__}, not text')
            holder[key], dropped = config_text_as_data(holder[key])
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as err:
            del holder[key]
            print_log(f'{source}: ignored the config text in {where}.{key} ({err}); checkpoint '
                      f'text is read as data only, never run', logger='current',
                      level=logging.WARNING)
            continue
        if dropped:
            print_log(f'{source}: {where}.{key} read without {dropped} (only plain data is kept '
                      f'from checkpoint text)', logger='current')
    return checkpoint
