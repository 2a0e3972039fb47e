"""Output files: atomic writes to regular files, direct writes to streams.

- A regular file (or a name that doesn't exist yet) is written to a temporary
  file beside it (``.cnndsl-*``) and renamed onto it, so a failure at any point
  leaves no partial file behind. SIGTERM and SIGHUP (when they have their
  default action) and SIGINT remove the temporary file before the process ends.
- A symlink is followed: its target is written that way, and the link stays a
  link.
- ``-`` (standard output), a character device such as ``/dev/null`` and a FIFO
  are written through directly: no temporary file beside them, no rename, so a
  device node is never replaced by a regular file. Block devices and sockets
  are refused.
"""
from __future__ import annotations

import contextlib
import gc
import os
import signal
import stat
import sys

# shutil and tempfile are imported where they are used: `check` reads files and needs neither (start-up)

from .errors import CnnError

STDOUT = "-"
CAUGHT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """Raised by the handler of a terminating signal while a temporary file exists, so that
    ``finally`` clauses remove it; the signal is delivered again once they have run."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def kind(path: str) -> str:
    """How ``path`` is written: ``stdout`` (``-``), ``stream`` (a character device or a FIFO,
    written through) or ``file`` (a regular file, a symlink to one, or a new name: written atomically)."""
    if path == STDOUT:
        return "stdout"
    try:
        st = os.stat(path)  # follows symlinks: a link to /dev/null is a stream
    except OSError:
        return "file"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "stream"
    return "file"


def _resolved(path: str) -> str:
    """The file a path names: a symlink's final target (which may not exist yet), else the path."""
    return os.path.realpath(path) if os.path.islink(path) else path


def check_writable(path: str) -> str:
    """The folder a file for ``path`` goes in, or a usage error if it can't be written (checked before slow work).

    For ``-``, devices and FIFOs, the folder of temporary files (they are written through)."""
    import tempfile
    if path == STDOUT:
        return tempfile.gettempdir()
    target = _resolved(path)
    if os.path.islink(target):   # realpath gives up on a loop of links
        raise CnnError("usage", f"can't write {path}: it is a loop of symbolic links")
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = None
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        if not os.access(target, os.W_OK):
            raise CnnError("usage", f"can't write {path}: permission denied")
        return tempfile.gettempdir()
    if mode is not None and stat.S_ISDIR(mode):
        raise CnnError("usage", f"can't write {path}: it is a folder")
    if mode is not None and not stat.S_ISREG(mode):
        what = "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        raise CnnError("usage", f"can't write {path}: it is {what}",
                       hint="write to a file, a character device such as /dev/null, a FIFO or - (standard output)")
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise CnnError("usage", f"can't write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CnnError("usage", f"can't write {path}: folder {folder} is not writable")
    return folder


@contextlib.contextmanager
def _signals_end_cleanly():
    """While the block runs, SIGTERM and SIGHUP raise ``Terminated`` (when their action is the default:
    an ignored SIGHUP, as under nohup, stays ignored). Once the block's ``finally`` clauses have run, the
    signal is delivered again with its default action, so the process still ends by it."""
    def handler(signum, frame):
        if not got:                      # the first one; later ones would cut the clean-up short
            got.append(signum)
            if raising:
                raise Terminated(signum)

    got: list = []
    raising = True
    previous = {}
    for sig in CAUGHT_SIGNALS:
        try:
            if signal.getsignal(sig) == signal.SIG_DFL:
                previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):   # not the main thread: signals can't be handled here
            pass
    caught = None
    try:
        yield
    except Terminated as e:
        caught = e.signum
    finally:
        raising = False                  # from here a signal is only noted, and delivered below
        for sig, old in previous.items():
            signal.signal(sig, old)
    if caught is None and got:           # a signal came while the block was ending and was not raised
        caught = got[0]
    if caught is not None:
        gc.collect()                     # frames of the interrupted write hold other libraries' temp files
        sys.stdout.flush()
        signal.signal(caught, signal.SIG_DFL)
        os.kill(os.getpid(), caught)
        raise SystemExit(128 + caught)   # not reached: the default action of SIGTERM and SIGHUP ends the process


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP back for the block; they are handled as it ends."""
    held = (signal.SIGINT, *CAUGHT_SIGNALS)
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):   # no sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _mode_for(target: str) -> int:
    """The mode the written file gets: the existing file's, or what open() would give a new one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _usage(path: str, e: OSError) -> CnnError:
    return CnnError("usage", f"can't write {path}: {e.strerror or e}")


@contextlib.contextmanager
def atomic_path(path: str, suffix: str | None = None):
    """Yield a path to write the output to; it ends up at ``path``.

    For a file, a temporary file in the target's folder, renamed onto the target on success (a symlink's
    target: the link stays a link). For ``-``, a device or a FIFO, a temporary file in the system's
    temporary folder whose bytes are then copied through. The temporary file ends in ``suffix``, by default
    ``path``'s (Keras's writer wants a .keras name even when the output is /dev/null)."""
    folder = check_writable(path)
    how = kind(path)
    target = _resolved(path) if how == "file" else path
    if suffix is None:
        suffix = os.path.splitext(os.path.basename(target))[1]
    import tempfile
    tmp = None
    with _signals_end_cleanly():
        try:
            with _signals_held():  # a signal is handled once `tmp` is known, so the file can't be missed
                fd, tmp = tempfile.mkstemp(prefix=".cnndsl-", suffix=suffix, dir=folder)
            os.close(fd)
            yield tmp
            if how == "file":
                os.chmod(tmp, _mode_for(target))  # mkstemp makes 0600
                os.replace(tmp, target)
            else:
                with open(tmp, "rb") as src:
                    _write_through(path, src)
        except BrokenPipeError:   # standard output's reader is gone: the command line ends quietly
            raise
        except OSError as e:
            raise _usage(path, e) from None
        finally:
            if tmp is not None and os.path.lexists(tmp):
                os.unlink(tmp)


def _write_through(path: str, src) -> None:
    """Copy the file object ``src`` to standard output, a device or a FIFO, as it is: no temporary file."""
    if path == STDOUT:
        sys.stdout.flush()
        _copy(src, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as out:   # a FIFO's open waits for a reader, as a shell's `>` does
        _copy(src, out)


def _copy(src, out) -> None:
    if isinstance(src, (bytes, bytearray, memoryview)):
        _write_all(out, src)
    else:
        import shutil
        shutil.copyfileobj(src, out, 1 << 20)


def _write_all(f, data) -> None:
    """Write bytes to an open file (one place, so tests can slow it down)."""
    f.write(data)


def write_atomic(path: str, data) -> None:
    """Write text or bytes to ``path``: atomically to a file (or a symlink's target); straight through to
    ``-``, a character device or a FIFO."""
    data = data.encode() if isinstance(data, str) else data
    if kind(path) != "file":
        check_writable(path)
        try:
            _write_through(path, bytes(data))
        except OSError as e:
            if isinstance(e, BrokenPipeError):
                raise
            raise _usage(path, e) from None
        return
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            _write_all(f, data)


write_output = write_atomic


# --- reading a member of a zip archive, bounded ---------------------------------------------------------

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str) -> bool:
    """Whether ``path`` is an HDF5 file (a legacy Keras ``.h5`` model), by its signature. Only a
    regular file is opened (a FIFO would block until something writes to it)."""
    import stat
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def hdf5_error(path: str) -> CnnError:
    """The error for a legacy HDF5 Keras model, which cnndsl refuses rather than half-reads."""
    from .errors import ConfigSpan, Source
    return CnnError("value", "a legacy HDF5 (.h5) Keras model, which cnndsl does not read",
                    ConfigSpan(Source(path, ""), 0, 0, 0, 0, where="HDF5"),
                    hint="load it with Keras and save it as .keras (model.save('model.keras')), or pass the model "
                         "to cnndsl.from_keras")


def read_zip_member(path: str, member: str, limit: int) -> bytes:
    """The bytes of ``member`` of the zip archive ``path``, at most ``limit`` of them.

    The size the zip header states is checked before anything is inflated, and the stream is read
    through a counter that stops one byte past ``limit`` whatever the header said, so a header that
    understates a huge stream costs ``limit`` bytes, not the stream. Every failure (not a zip, no such
    member, an encrypted or corrupt member, an unknown compression method, a short stream) is one
    ``CnnError`` naming the file and the member."""
    import zipfile
    import zlib

    from .errors import ConfigSpan, Source

    def fail(why: str, hint: str | None = None, where: str = member) -> CnnError:
        return CnnError("value", why, ConfigSpan(Source(path, ""), 0, 0, 0, 0, where=where), hint=hint)

    if is_hdf5(path):
        raise hdf5_error(path)
    try:
        with zipfile.ZipFile(path) as z:
            try:
                info = z.getinfo(member)
            except KeyError:
                raise fail(f"not a Keras 3 .keras file (it has no {member})", where="zip") from None
            if info.flag_bits & 0x1:
                raise fail("it is encrypted")
            if info.file_size > limit:
                raise fail(f"it is {info.file_size:,} bytes, over the limit of {limit:,}")
            out, total = [], 0
            with z.open(info) as f:
                while True:
                    chunk = f.read(min(1 << 20, limit + 1 - total))
                    if not chunk:
                        break
                    total += len(chunk)
                    out.append(chunk)
                    if total > limit:
                        raise fail(f"it inflates past the limit of {limit:,} bytes (its header said "
                                   f"{info.file_size:,})")
            return b"".join(out)
    except CnnError:
        raise
    except zipfile.BadZipFile as e:
        raise fail(f"not a .keras file, which is a zip archive ({e})", where="zip") from None
    except NotImplementedError as e:   # an unknown compression method
        raise fail(f"it can't be read: {e}") from None
    except (zlib.error, EOFError) as e:
        raise fail(f"it is corrupt ({type(e).__name__}: {e})") from None
    except RuntimeError as e:   # zipfile: encrypted, or a bad password
        raise fail(f"it can't be read ({e})") from None
    except OSError as e:
        raise CnnError("value", f"can't read {path}: {e.strerror or e}") from None   # exists: checked before
    except (ValueError, OverflowError, struct_error()) as e:   # a header with impossible offsets or sizes
        raise fail(f"not a readable zip archive ({type(e).__name__}: {e})", where="zip") from None


def struct_error():
    import struct
    return struct.error
