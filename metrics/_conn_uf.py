"""One-pass union-find for the connectivity error (numba, releases the GIL).

The threshold sets ``M_k = {m >= k}`` are nested, so a single sweep that adds pixels in order
of decreasing level ``m`` builds the components of every ``M_k`` in turn (``M_10`` first). Union
by size without path compression keeps, for every node, the level at which it received a
parent (a persistent union-find: walking a pixel's ancestor chain tells its component *at any
level*); a second, path-halved copy of the same forest makes the finds during the sweep
cheap. The largest component of each level is tracked incrementally, ties broken by the
smallest ``key`` (the first pixel in column-major or row-major order).

Exactly the semantics of :func:`metrics.conn.conn_levels` with ``with_background=False``; the
test suite compares the two methods on random and crafted images.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

try:  # numba is a declared dependency; the OpenCV path in metrics.conn is the fallback
    import numba as _nb
except ImportError:  # pragma: no cover - exercised only without numba
    _nb = None

__all__ = ["AVAILABLE", "kstar_union_find", "conn_sum_union_find"]

AVAILABLE = _nb is not None
# Compiled lazily on first call and cached on disk; without numba the functions stay plain
# Python (correct but slow), and metrics.conn uses its OpenCV method instead.
_njit = _nb.njit(cache=True, nogil=True) if AVAILABLE else (lambda f: f)


@_njit
def _forest(m, top_labels, steps, column_major, work):  # pragma: no cover - compiled by numba
    """Sweep the pixels by decreasing level; return the merge tree and each level's best root.

    ``top_labels`` labels the 4-connected components of ``M_steps`` (OpenCV, label 0 = not in
    it): those pixels are attached to one representative per component in a single raster
    scan, and only the lower levels go through the union-find sweep.
    """
    h, w = m.shape
    n = h * w
    mf = m.ravel()
    # Only pixels of level >= 1 are ever touched, and each is initialised when it is added; the
    # arrays are reused between calls (fresh pages would cost more than the sweep itself).
    parent = work[0, :n]  # merge tree: root-to-root links, never compressed
    fast = work[1, :n]  # the same forest with path halving, for quick finds
    size = work[2, :n]
    key = work[3, :n]
    order = work[4, :n]
    link = work[5, :n].view(np.uint8)[:n]  # level at which the node got a parent; 0 = a root
    best_root = np.full(steps + 2, -1, dtype=np.int64)
    best = -1
    # the top level from its labels: one representative (first pixel in raster order) each
    tl = top_labels.ravel()
    nlab = 0
    for i in range(n):
        if tl[i] > nlab:
            nlab = tl[i]
    rep = np.full(nlab + 1, -1, dtype=np.int64)
    for r in range(h):
        for c in range(w):
            x = r * w + c
            lab = tl[x]
            if lab == 0:
                continue
            k = c * h + r if column_major else x
            root = rep[lab]
            if root < 0:
                rep[lab] = x
                parent[x] = x
                fast[x] = x
                size[x] = 1
                link[x] = 0
                key[x] = k
            else:
                parent[x] = root
                fast[x] = root
                link[x] = steps
                size[x] = 1
                size[root] += 1
                if k < key[root]:
                    key[root] = k
    for lab in range(1, nlab + 1):
        rx = rep[lab]
        if best < 0 or size[rx] > size[best] or (size[rx] == size[best] and key[rx] < key[best]):
            best = rx
    best_root[steps] = best
    # the lower levels, each in raster order, by a counting sort
    counts = np.zeros(steps + 1, dtype=np.int64)
    for i in range(n):
        counts[mf[i]] += 1
    start = np.zeros(steps + 1, dtype=np.int64)
    acc = 0
    for lv in range(steps - 1, 0, -1):
        start[lv] = acc
        acc += counts[lv]
    pos = start.copy()
    for i in range(n):
        lv = mf[i]
        if 0 < lv < steps:
            order[pos[lv]] = i
            pos[lv] += 1
    for lv in range(steps - 1, 0, -1):
        for j in range(start[lv], start[lv] + counts[lv]):
            x = order[j]
            r = x // w
            c = x - r * w
            parent[x] = x
            fast[x] = x
            size[x] = 1
            link[x] = 0
            key[x] = c * h + r if column_major else x
            rx = x
            # Neighbours already added: any of level > lv, or of level lv earlier in raster
            # order (up, left). A later same-level neighbour joins us when its turn comes.
            for d in range(4):
                if d == 0:
                    if r == 0:
                        continue
                    y = x - w
                    if mf[y] < lv:
                        continue
                elif d == 1:
                    if c == 0:
                        continue
                    y = x - 1
                    if mf[y] < lv:
                        continue
                elif d == 2:
                    if r == h - 1:
                        continue
                    y = x + w
                    if mf[y] <= lv:
                        continue
                else:
                    if c == w - 1:
                        continue
                    y = x + 1
                    if mf[y] <= lv:
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
    return parent, link, best_root


@_njit
def _kstar_of(x, mx, parent, link, best_root, chain):  # pragma: no cover - compiled
    """First level k <= mx at which pixel x is outside the largest component; mx + 1 if none."""
    if mx == 0:
        return 1
    d = 0
    a = x
    chain[0] = a
    while parent[a] != a:
        a = parent[a]
        d += 1
        chain[d] = a
    i = d
    for k in range(1, mx + 1):
        # the pixel's root at level k: the first ancestor not yet linked at that level
        while i > 0 and link[chain[i - 1]] < k:
            i -= 1
        if chain[i] != best_root[k]:
            return k
    return mx + 1


@_njit
def _kstar_impl(m, top_labels, sel, steps, column_major, work):  # pragma: no cover - compiled
    parent, link, best_root = _forest(m, top_labels, steps, column_major, work)
    mf = m.ravel()
    out = np.empty(sel.shape[0], dtype=np.uint8)
    chain = np.empty(64, dtype=np.int32)
    for s in range(sel.shape[0]):
        out[s] = _kstar_of(sel[s], mf[sel[s]], parent, link, best_root, chain)
    return out


@_njit
def _conn_sum_impl(
    m, top_labels, p, g, denom, sel, steps, column_major, indexnet, theta, work
):  # pragma: no cover
    """Raw Conn: sum over ``sel`` of |phi_p - phi_g| (the reference's per-pixel formula)."""
    parent, link, best_root = _forest(m, top_labels, steps, column_major, work)
    mf = m.ravel()
    pf = p.ravel()
    gf = g.ravel()
    top = 0
    for i in range(mf.shape[0]):
        if mf[i] > top:
            top = mf[i]
    chain = np.empty(64, dtype=np.int32)
    total = 0.0
    for s in range(sel.shape[0]):
        x = sel[s]
        ks = _kstar_of(x, mf[x], parent, link, best_root, chain)
        if indexnet and top < steps and ks == top + 1:
            ks = steps + 1  # ``continue`` at the first empty level: l ends at 1
        lv = (ks - 1) / steps
        a = pf[x] / denom
        b = gf[x] / denom
        da = a - lv
        db = b - lv
        phi_a = 1.0 - da * (1.0 if da >= theta else 0.0)
        phi_b = 1.0 - db * (1.0 if db >= theta else 0.0)
        total += abs(phi_a - phi_b)
    return total


_LOCAL = threading.local()


def _work(m: np.ndarray) -> np.ndarray:
    """This thread's reusable work arrays, ``(7, n)`` int32 (grown when an image is larger).

    Touching fresh memory costs page faults that take longer than the sweep itself, so the
    buffers (about 28 bytes a pixel: 112 MB at 2048x2048) are kept per thread between calls.
    """
    n = m.size
    work = getattr(_LOCAL, "work", None)
    if work is None or work.shape[1] < n:
        work = np.empty((7, n), dtype=np.int32)
        _LOCAL.work = work
    return work


def _top_labels(m: np.ndarray, steps: int, work: np.ndarray) -> np.ndarray:
    """4-connected labels of ``M_steps`` (OpenCV's labeller, multi-threaded, releases the GIL),
    written into row 6 of the work arrays."""
    top = (m >= steps).view(np.uint8)
    out = work[6, : m.size].reshape(m.shape)
    _, labels = cv2.connectedComponents(top, out, connectivity=4, ltype=cv2.CV_32S)
    return labels


def kstar_union_find(m: np.ndarray, sel: np.ndarray, steps: int, column_major: bool) -> np.ndarray:
    """``kstar`` (first level at which a pixel leaves the largest component; ``steps + 1`` =
    never) of the flat pixel indices ``sel``, from the ``uint8`` level map ``m``.

    """
    m = np.ascontiguousarray(m, dtype=np.uint8)
    sel = np.ascontiguousarray(sel, dtype=np.int64)
    work = _work(m)
    return _kstar_impl(m, _top_labels(m, steps, work), sel, steps, column_major, work)


def conn_sum_union_find(
    m: np.ndarray,
    p: np.ndarray,
    g: np.ndarray,
    sel: np.ndarray,
    *,
    steps: int,
    column_major: bool,
    indexnet: bool,
    theta: float,
) -> float:
    """Raw connectivity error over the flat indices ``sel`` in one compiled pass.

    ``p`` and ``g`` are both ``uint8`` (grey levels, divided by 255 per pixel) or both
    ``float64`` alpha. Compiled on first use (cached on disk by numba).
    """
    m = np.ascontiguousarray(m, dtype=np.uint8)
    denom = 255.0 if p.dtype == np.uint8 else 1.0
    work = _work(m)
    return float(
        _conn_sum_impl(
            m,
            _top_labels(m, steps, work),
            np.ascontiguousarray(p),
            np.ascontiguousarray(g),
            denom,
            np.ascontiguousarray(sel, dtype=np.int64),
            steps,
            column_major,
            indexnet,
            theta,
            work,
        )
    )
