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
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from metrics import InputError, LossyImageWarning
from metrics._inputs import as_alpha, as_trimap

__all__ = [
    "LOSSY_EXTS",
    "is_lossy",
    "read_grey",
    "read_alpha",
    "read_trimap",
    "read_rgb",
    "atomic_write",
    "IMAGE_EXTS",
]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


#: Lossy formats: a matte stored this way has had its values changed by the compression.
LOSSY_EXTS = (".jpg", ".jpeg")

_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Capture what C libraries write to file descriptor 2 (libpng's and libjpeg's own
    messages, OpenCV's log lines) for the duration of a decode; the caller decides whether
    the text is worth showing (it is added to the error of a file that cannot be decoded and
    dropped otherwise). Python's ``sys.stderr`` is untouched."""
    out: list[str] = []
    fd = 2  # the C libraries write to the descriptor, whatever sys.stderr is
    with _STDERR_LOCK, tempfile.TemporaryFile() as tmp:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        try:
            saved = os.dup(fd)
        except OSError:  # no descriptor 2 at all
            yield out
            return
        try:
            os.dup2(tmp.fileno(), fd)
            yield out
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def _decoder_said(text: str) -> str:
    """The decoder's own messages, without OpenCV's log prefixes, on one line."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):  # "[ WARN:0@0.8] global grfmt_png.cpp:792 fn message"
            parts = line.split("] ", 1)[-1].split(" ", 3)
            line = parts[-1] if len(parts) == 4 else line
        if line:
            lines.append(line)
    return "; ".join(dict.fromkeys(lines))


def _decode(path: str | os.PathLike[str]) -> tuple[Path, np.ndarray]:
    """Decode any image file as stored (``IMREAD_UNCHANGED``); errors name the file once.

    The decoders' own messages never reach the terminal: they are captured, shown inside the
    error when the file cannot be decoded, and dropped when it can.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    # np.fromfile + imdecode handles any path (spaces, parentheses, non-ASCII names)
    data = np.fromfile(str(p), dtype=np.uint8)
    with _captured_stderr() as said:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        detail = _decoder_said("".join(said))
        why = "empty file" if not data.size else detail or "unknown format or damaged data"
        raise InputError(f"{p}: cannot be decoded as an image ({why})")
    return p, img


def is_lossy(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is stored in a lossy format (JPEG), judged by its extension."""
    return Path(path).suffix.lower() in LOSSY_EXTS


def read_grey(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a single-channel 8-bit image as ``uint8`` HxW.

    Raises
    ------
    InputError
        If the file is missing or unreadable, 16-bit, RGBA/grey+alpha, or colour with
        differing channels. The message names the file once, as given.
    """
    p, img = _decode(path)
    if img.dtype == np.uint16:
        raise InputError(f"{p} is 16-bit; MatteBench reads 8-bit mattes and trimaps")
    if img.dtype != np.uint8:
        raise InputError(f"{p} has pixel type {img.dtype}, expected 8-bit")
    if img.ndim == 3:
        if img.shape[2] == 4:
            raise InputError(
                f"{p} is RGBA (has an alpha channel); save the matte as a single-channel "
                "8-bit image"
            )
        if img.shape[2] == 2:
            raise InputError(f"{p} is grey+alpha; save it as a single-channel image")
        if img.shape[2] == 3:
            if not (
                np.array_equal(img[..., 0], img[..., 1])
                and np.array_equal(img[..., 0], img[..., 2])
            ):
                raise InputError(f"{p} is an RGB image with differing channels, not a matte")
            img = np.ascontiguousarray(img[..., 0])
        else:
            raise InputError(f"{p} has {img.shape[2]} channels")
    return img


def read_alpha(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an alpha matte (``uint8``), validated as :func:`metrics._inputs.as_alpha` does.

    A JPEG file is read but warns (:class:`metrics.LossyImageWarning`): its compression has
    changed the matte's values (a flat 0.5 region comes back as 127-129), so its metrics are
    not those of the prediction that was saved.
    """
    if is_lossy(path):
        warnings.warn(
            LossyImageWarning(
                f"{path} is a JPEG: lossy compression has changed the matte's values; save "
                "mattes as PNG"
            ),
            stacklevel=2,
        )
    return as_alpha(read_grey(path), Path(path).name)


def read_trimap(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a trimap (``uint8``; only 128 is unknown)."""
    return as_trimap(read_grey(path), Path(path).name)


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a colour image as ``uint8`` HxWx3 in RGB order (grey images are expanded)."""
    p, img = _decode(path)
    if img.dtype != np.uint8:
        raise InputError(f"{p} is {img.dtype}, expected an 8-bit image")
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
