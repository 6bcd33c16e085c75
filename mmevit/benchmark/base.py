"""What every benchmark setting shares: the interface, progress, tables and ratios."""
import argparse
import sys
import time
from typing import Callable, Dict, Iterable, List, NamedTuple, Sequence

import torch

from mmevit.benchmark import measure


class Table(NamedTuple):
    """A markdown table: a title, its header, its rows."""
    title: str
    header: Sequence[str]
    rows: List[Sequence[object]]

    def markdown(self) -> str:
        lines = [f'### {self.title}', '', '| ' + ' | '.join(self.header) + ' |',
                 '|' + '---|' * len(self.header)]
        lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in self.rows]
        return '\n'.join(lines)


def ratio(value, base) -> str:
    """``value / base`` as ``'1.23x'``, or ``'-'`` when either is missing."""
    return f'{value / base:.2f}x' if value and base else '-'


class Progress:
    """Progress on stderr: ``[i] elapsed  what`` before each step, its result after."""

    def __init__(self):
        self.done, self.start = 0, time.time()

    def step(self, label: str, job: Callable[[], str]) -> None:
        self.done += 1
        head = f'[{self.done}] {time.time() - self.start:5.0f}s'
        print(f'{head}  {label} ...', file=sys.stderr, flush=True)
        print(f'{" " * len(head)}  {job()}', file=sys.stderr, flush=True)

    @staticmethod
    def note(text: str) -> None:
        print(f'    {text}', file=sys.stderr, flush=True)


class Setting:
    """One benchmark setting: its command-line arguments, a run that returns its rows (each a
    dict with ``setting=name``), and the tables of those rows."""

    name: str = ''

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add the setting's own arguments (defaults reproduce the README's runs)."""

    def run(self, args: argparse.Namespace, progress: Progress) -> List[dict]:
        raise NotImplementedError

    def tables(self, rows: List[dict]) -> List[Table]:
        raise NotImplementedError


def round_robin(candidates: Dict[str, Callable], threads: int, warmup: int, reps: int,
                progress: Progress) -> Dict[str, float]:
    """Median seconds per call of each candidate, timed round-robin under ``threads``."""
    def on_round(i):
        progress.note(f'round {i}/{reps}')
    with measure.torch_threads(threads), torch.inference_mode():
        return measure.interleaved_median_times(candidates, warmup, reps, on_round)


def join_ms(medians: Dict[str, float]) -> str:
    return ', '.join(f'{k} {1e3 * v:.0f} ms' for k, v in medians.items())


def rows_of(rows: Iterable[dict], **match) -> List[dict]:
    """The rows whose fields equal ``match``."""
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]
