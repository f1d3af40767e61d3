"""The search behind the posts heuristic of :mod:`passages.coverage` (maximal covering).

Every function works on a dense ``rows x columns`` cover matrix (a row is a candidate
corner, a column a passage segment with value, an entry whether the corner watches it) and
the columns' weights; a *choice* is a list of row numbers.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

#: Pair swaps try this many first posts to put back (those adding the most value alone).
PAIR_FIRSTS = 16

#: Greedy answers started from this many of the corners watching the most value alone.
MULTI_STARTS = 32

#: Entries of one block of the containment test between candidates (memory, not speed).
DOMINANCE_BLOCK = 4_000_000


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1: HiGHS prints its banner from C++ even with ``msg=False``."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def undominated(cover: np.ndarray) -> np.ndarray:
    """Return the rows of a boolean matrix that no other row contains, in order.

    Of identical rows the first is kept; empty rows are dropped.
    """
    as_float = cover.astype(np.float32)
    sizes = as_float.sum(axis=1)
    keep = sizes > 0
    n = len(cover)
    block = max(1, DOMINANCE_BLOCK // max(n, 1))
    for start in range(0, n, block):
        stop = min(start + block, n)
        inside = (as_float[start:stop] @ as_float.T) >= sizes[start:stop, None] - 0.5
        larger = sizes[None, :] > sizes[start:stop, None]
        rows = np.arange(start, stop)
        earlier_twin = (sizes[None, :] == sizes[rows, None]) & (np.arange(n)[None, :] < rows[:, None])
        keep[start:stop] &= ~(inside & (larger | earlier_twin)).any(axis=1)
    return np.flatnonzero(keep)


def multi_start(cover: np.ndarray, weights: np.ndarray, k: int, tolerance: float) -> list[int]:
    """Return the best of greedy answers for ``k`` rows started from each of the best single rows, improved."""
    alone = cover @ weights
    best: list[int] = []
    best_value = -1.0
    for start in np.argsort(-alone, kind="stable")[:MULTI_STARTS]:
        trial = interchange(cover, weights, add_greedily(cover, weights, [int(start)], k - 1), tolerance)
        trial_value = value(cover, weights, trial)
        if trial_value > best_value + tolerance:
            best, best_value = trial, trial_value
    return improve(cover, weights, best, tolerance)


def value(cover: np.ndarray, weights: np.ndarray, chosen: Sequence[int]) -> float:
    return float(weights[cover[list(chosen)].any(axis=0)].sum()) if len(chosen) else 0.0


def add_greedily(cover: np.ndarray, weights: np.ndarray, chosen: Sequence[int], count: int) -> list[int]:
    """Add ``count`` rows to ``chosen``, each the one watching the most value not yet watched."""
    chosen = list(chosen)
    for _ in range(min(count, len(cover) - len(chosen))):
        watched = cover[chosen].any(axis=0) if chosen else np.zeros(cover.shape[1], dtype=bool)
        gains = cover @ np.where(watched, 0.0, weights)
        gains[chosen] = -np.inf
        chosen.append(int(np.argmax(gains)))
    return chosen


def interchange(cover: np.ndarray, weights: np.ndarray, chosen: Sequence[int], tolerance: float) -> list[int]:
    """Swap one post for another while the best swap gains more than ``tolerance`` (Teitz-Bart)."""
    chosen = list(chosen)
    counts = cover[chosen].sum(axis=0)
    while True:
        best_gain, best_out, best_in = tolerance, -1, -1
        for slot, row in enumerate(chosen):
            alone = (counts - cover[row]) == 0
            lost = float(weights[alone & (cover[row] > 0)].sum())
            gains = cover @ np.where(alone, weights, 0.0) - lost
            gains[chosen] = -np.inf
            pick = int(np.argmax(gains))
            if gains[pick] > best_gain:
                best_gain, best_out, best_in = float(gains[pick]), slot, pick
        if best_out < 0:
            return chosen
        counts += cover[best_in] - cover[chosen[best_out]]
        chosen[best_out] = best_in


def best_pair(cover: np.ndarray, weights: np.ndarray, kept: list[int]) -> tuple[float, list[int]]:
    """Return the best two rows to add to ``kept`` among :data:`PAIR_FIRSTS` first choices.

    Each of the rows adding the most value alone is tried as the first, with the best
    second for it; returns the value gained and the two rows.
    """
    watched = cover[kept].any(axis=0) if kept else np.zeros(cover.shape[1], dtype=bool)
    open_weight = np.where(watched, 0.0, weights)
    first_gain = cover @ open_weight
    first_gain[kept] = -np.inf
    firsts = np.argsort(-first_gain, kind="stable")[:PAIR_FIRSTS]
    firsts = firsts[np.isfinite(first_gain[firsts])]
    # column f: the value still open once first f is added
    open_after = np.where(cover[firsts].T > 0, 0.0, open_weight[:, None])
    second_gain = cover @ open_after
    second_gain[kept, :] = -np.inf
    second_gain[firsts, np.arange(len(firsts))] = -np.inf
    seconds = np.argmax(second_gain, axis=0)
    totals = first_gain[firsts] + second_gain[seconds, np.arange(len(firsts))]
    best = int(np.argmax(totals))
    return float(totals[best]), [int(firsts[best]), int(seconds[best])]


def improve(cover: np.ndarray, weights: np.ndarray, chosen: Sequence[int], tolerance: float) -> list[int]:
    """Return a local optimum for single swaps and for pair swaps, never worse than ``chosen``.

    After the single swaps settle, each pair of posts is taken out and the best two
    posts to put back are searched (:func:`_best_pair`); the first pair swap that gains
    is made, single swaps run again and the search starts over (a variable neighbourhood
    descent).
    """
    best = interchange(cover, weights, chosen, tolerance)
    best_value = value(cover, weights, best)
    improved = len(cover) > len(best) >= 2
    while improved:
        improved = False
        for i, j in itertools.combinations(range(len(best)), 2):
            kept = [row for slot, row in enumerate(best) if slot not in (i, j)]
            gain, pair = best_pair(cover, weights, kept)
            if value(cover, weights, kept) + gain > best_value + tolerance:
                best = interchange(cover, weights, kept + pair, tolerance)
                best_value = value(cover, weights, best)
                improved = True
                break
    return best
