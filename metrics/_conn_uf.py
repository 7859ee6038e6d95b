"""One-pass union-find for the connectivity error's level map (numba, releases the GIL).

The threshold sets ``M_k = {m >= k}`` are nested, so a single sweep that adds pixels in order
of decreasing level ``m`` builds the components of every ``M_k`` in turn (``M_10`` first). Union
by size without path compression keeps, for every node, the level at which it received a
parent; walking a pixel's ancestor chain then tells its component *at any level* (a
persistent union-find). The largest component of each level is tracked incrementally, its
ties broken by the smallest ``key`` (the first pixel in column-major or row-major order).

Exactly the semantics of :func:`metrics.conn.conn_levels` with ``with_background=False``; the
test suite compares the two on random and crafted images.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a declared dependency; the OpenCV path in metrics.conn is the fallback
    import numba as _nb
except ImportError:  # pragma: no cover - exercised only without numba
    _nb = None

__all__ = ["AVAILABLE", "kstar_union_find"]

AVAILABLE = _nb is not None


def _kstar_impl(m: np.ndarray, sel: np.ndarray, steps: int, column_major: bool) -> np.ndarray:
    h, w = m.shape
    n = h * w
    mf = m.ravel()
    parent = np.arange(n, dtype=np.int32)  # the merge tree: root-to-root links, never compressed
    fast = np.arange(n, dtype=np.int32)  # the same forest with path halving, for quick finds
    size = np.ones(n, dtype=np.int32)
    key = np.empty(n, dtype=np.int32)
    link = np.zeros(n, dtype=np.uint8)  # level at which the node got a parent; 0 = a root
    for r in range(h):
        for c in range(w):
            key[r * w + c] = c * h + r if column_major else r * w + c
    counts = np.zeros(steps + 1, dtype=np.int64)
    for i in range(n):
        counts[mf[i]] += 1
    start = np.zeros(steps + 1, dtype=np.int64)
    acc = 0
    for lv in range(steps, 0, -1):
        start[lv] = acc
        acc += counts[lv]
    order = np.empty(acc, dtype=np.int32)
    pos = start.copy()
    for i in range(n):
        lv = mf[i]
        if lv > 0:
            order[pos[lv]] = i
            pos[lv] += 1
    best_root = np.full(steps + 2, -1, dtype=np.int64)
    best = -1
    for lv in range(steps, 0, -1):
        for j in range(start[lv], start[lv] + counts[lv]):
            x = order[j]
            r = x // w
            c = x - r * w
            rx = x
            while fast[rx] != rx:
                fast[rx] = fast[fast[rx]]
                rx = fast[rx]
            for d in range(4):
                if d == 0:
                    if r == 0:
                        continue
                    y = x - w
                elif d == 1:
                    if r == h - 1:
                        continue
                    y = x + w
                elif d == 2:
                    if c == 0:
                        continue
                    y = x - 1
                else:
                    if c == w - 1:
                        continue
                    y = x + 1
                if mf[y] < lv:
                    continue
                ry = y
                while fast[ry] != ry:
                    fast[ry] = fast[fast[ry]]
                    ry = fast[ry]
                if ry == rx:
                    continue
                if size[ry] > size[rx] or (size[ry] == size[rx] and key[ry] < key[rx]):
                    rx, ry = ry, rx
                parent[ry] = rx
                fast[ry] = rx
                link[ry] = lv
                size[rx] += size[ry]
                if key[ry] < key[rx]:
                    key[rx] = key[ry]
            if best >= 0:
                while fast[best] != best:
                    best = fast[best]
            if (
                best < 0
                or size[rx] > size[best]
                or (size[rx] == size[best] and key[rx] < key[best])
            ):
                best = rx
        best_root[lv] = best
    out = np.empty(sel.shape[0], dtype=np.uint8)
    chain = np.empty(64, dtype=np.int32)
    for s in range(sel.shape[0]):
        x = sel[s]
        mx = mf[x]
        d = 0
        a = x
        chain[0] = a
        while parent[a] != a:
            a = parent[a]
            d += 1
            chain[d] = a
        i = d
        ks = mx + 1
        for k in range(1, mx + 1):
            # the pixel's root at level k: the first ancestor not yet linked at that level
            while i > 0 and link[chain[i - 1]] < k:
                i -= 1
            if chain[i] != best_root[k]:
                ks = k
                break
        out[s] = ks
    return out


_compiled = None


def kstar_union_find(m: np.ndarray, sel: np.ndarray, steps: int, column_major: bool) -> np.ndarray:
    """``kstar`` (first level at which a pixel leaves the largest component; ``steps + 1`` =
    never) of the flat pixel indices ``sel``, from the ``uint8`` level map ``m``.

    Compiled on first use (cached on disk by numba).
    """
    global _compiled
    if _compiled is None:
        _compiled = _nb.njit(cache=True, nogil=True)(_kstar_impl)
    m = np.ascontiguousarray(m, dtype=np.uint8)
    return _compiled(m, np.ascontiguousarray(sel, dtype=np.int64), steps, column_major)
