"""Reading mattes and trimaps from disk, and writing files atomically.

Every problem is raised as :class:`metrics.InputError` naming the file: a missing or unreadable
file, a 16-bit PNG, an RGBA image, an RGB image whose channels differ. An RGB (or palette)
image whose three channels are identical is read as grey: that is how the alphamatting.com
trimaps (palette PNGs) and some Composition-1k alphas are stored, and the reference drivers
read channel 1 of such files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from metrics import InputError
from metrics._inputs import as_alpha, as_trimap

__all__ = ["read_grey", "read_alpha", "read_trimap", "read_rgb", "atomic_write", "IMAGE_EXTS"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _decode(path: str | os.PathLike[str]) -> tuple[Path, np.ndarray]:
    """Decode any image file as stored (``IMREAD_UNCHANGED``); errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    # np.fromfile + imdecode handles any path (spaces, parentheses, non-ASCII names)
    img = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{p.name}: cannot be decoded as an image ({p})")
    return p, img


def read_grey(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a single-channel 8-bit image as ``uint8`` HxW.

    Raises
    ------
    InputError
        If the file is missing or unreadable, 16-bit, RGBA/grey+alpha, or colour with
        differing channels.
    """
    p, img = _decode(path)
    if img.dtype == np.uint16:
        raise InputError(f"{p.name} is 16-bit; MatteBench reads 8-bit mattes and trimaps ({p})")
    if img.dtype != np.uint8:
        raise InputError(f"{p.name} has pixel type {img.dtype}, expected 8-bit ({p})")
    if img.ndim == 3:
        if img.shape[2] == 4:
            raise InputError(
                f"{p.name} is RGBA (has an alpha channel); save the matte as a single-channel "
                f"8-bit image ({p})"
            )
        if img.shape[2] == 2:
            raise InputError(f"{p.name} is grey+alpha; save it as a single-channel image ({p})")
        if img.shape[2] == 3:
            if not (
                np.array_equal(img[..., 0], img[..., 1])
                and np.array_equal(img[..., 0], img[..., 2])
            ):
                raise InputError(
                    f"{p.name} is an RGB image with differing channels, not a matte ({p})"
                )
            img = np.ascontiguousarray(img[..., 0])
        else:
            raise InputError(f"{p.name} has {img.shape[2]} channels ({p})")
    return img


def read_alpha(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an alpha matte (``uint8``), validated as :func:`metrics._inputs.as_alpha` does."""
    return as_alpha(read_grey(path), Path(path).name)


def read_trimap(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a trimap (``uint8``; only 128 is unknown)."""
    return as_trimap(read_grey(path), Path(path).name)


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a colour image as ``uint8`` HxWx3 in RGB order (grey images are expanded)."""
    p, img = _decode(path)
    if img.dtype != np.uint8:
        raise InputError(f"{p.name} is {img.dtype}, expected an 8-bit image ({p})")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kw: Any) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success.

    A crash leaves either the old file or the new one, never a torn one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, mode, **kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
