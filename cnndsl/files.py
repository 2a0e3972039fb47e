"""Atomic file writes: a temporary file beside the target, then a rename.

A failure at any point leaves no partial file behind.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

from .errors import CnnError


def check_writable(path: str) -> str:
    """``path``'s folder, or a usage error if a file can't be written there (checked before slow work)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CnnError("usage", f"can't write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CnnError("usage", f"can't write {path}: folder {folder} is not writable")
    if os.path.isdir(path):
        raise CnnError("usage", f"can't write {path}: it is a folder")
    return folder


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` on success."""
    folder = check_writable(path)
    suffix = os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cnndsl-", suffix=suffix, dir=folder)
    except OSError as e:
        raise CnnError("usage", f"can't write {path}: {e.strerror or e}") from None
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode open() would
        os.replace(tmp, path)
    except OSError as e:
        raise CnnError("usage", f"can't write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str, data) -> None:
    """Write text or bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
