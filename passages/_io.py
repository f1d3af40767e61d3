"""Writing files so that a reader never sees half of one, nor half of a run's set of files.

Two tools:

* :func:`atomic_path` / :func:`write_atomic`: one file, written to a temporary name beside
  it and renamed over it (caches, benchmark tables).
* :func:`output_set`: the whole output set of a run (a plan's map and summary, an officer
  pack, a comparison). The run writes into a fresh staging folder beside the target
  folder; at the end the files of the target that the run does not replace are linked
  into the staging folder and the two folders are swapped in one step (Linux
  ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, undone by the next run if it was
  cut between them). A run stopped at any point (an error, Ctrl-C, SIGTERM, SIGKILL, a
  full disk) leaves the target as the previous complete set; the next run removes the
  staging folders of runs that died. The folder carries a manifest,
  ``.passages-output.json``, naming the files of the complete set.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import fnmatch
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePath, PurePosixPath

from passages._errors import InputError, PassagesError

__all__ = ["MANIFEST", "OutputError", "OutputSet", "atomic_path", "check_output_folder", "output_set",
           "remove_stale_temporaries", "write_atomic", "writing_to"]

#: Name of the manifest a complete output folder carries.
MANIFEST = ".passages-output.json"

#: Longest folder name accepted for an output folder (bytes; file systems allow 255, and
#: the staging folder's name adds a prefix and a suffix to it).
MAX_FOLDER_NAME_BYTES = 200

# Endings of the files passages writes: a folder holding only these (and folders) is
# taken to be an output folder of an older passages without a manifest.
_OUTPUT_ENDINGS = (".html", ".json", ".gpkg", ".geojson", ".csv", ".png", ".gpx", ".pdf", ".tmp")


#: Environment variable naming a point of :func:`output_set` at which the process kills
#: itself with SIGKILL ("staged", "carried", "exchanged"): the tests' fault injection, so
#: that a kill at the worst moments is tested, not hoped for. Unset in normal use.
FAULT_VARIABLE = "PASSAGES_FAULT"


def _fault(point: str) -> None:
    if os.environ.get(FAULT_VARIABLE) == point:
        os.kill(os.getpid(), signal.SIGKILL)


class OutputError(PassagesError):
    """An output could not be written (a full disk, a folder that became read-only)."""


# --------------------------------------------------------------------------------------
# one file


@contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The caller writes the temporary file (it does not exist yet, so writers that create
    their own file, such as the GeoPackage driver, work too). On leaving the block the file
    becomes readable by everyone (mode 0644) and is renamed over ``path`` (``os.replace`` is
    atomic on one file system). A failure at any point removes the temporary file and
    leaves any earlier ``path`` untouched. Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path`, flushed to disk; return ``path``."""
    with atomic_path(path) as tmp, open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def remove_stale_temporaries(folder: str | Path, *, older_than_s: float = 600.0) -> int:
    """Remove the temporary files :func:`atomic_path` left in ``folder`` (a killed writer's).

    Only files named ``.<name>.<random>.tmp`` (or another ``atomic_path`` suffix
    beginning with ``.tmp``) older than ``older_than_s`` seconds are removed, so a writer
    still at work is left alone. Returns how many were removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for entry in folder.iterdir():
        if entry.name.startswith(".") and ".tmp" in entry.suffixes[-1:] and entry.is_file():
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > older_than_s:
                    entry.unlink()
                    removed += 1
    return removed


# --------------------------------------------------------------------------------------
# a run's set of files


class OutputSet:
    """The files of one run, staged in a folder beside ``target`` until the run commits.

    Use :func:`output_set` to make one. Writers ask :meth:`path` for where to write a file
    (inside the staging folder) or call :meth:`write`; both return or take names relative
    to the target folder, and :meth:`final` gives the path the file will have once the set
    is committed (what to print to the user).
    """

    def __init__(self, target: Path, staging: Path, owns: Sequence[str]) -> None:
        self.target = target
        self.staging = staging
        self.owns = tuple(owns)
        self.written: list[str] = []

    def _relative(self, name: str | PurePath) -> PurePosixPath:
        rel = PurePosixPath(PurePath(name).as_posix())
        if rel.is_absolute() or not rel.parts or any(p in ("", ".", "..") for p in rel.parts):
            raise ValueError(f"output name {str(name)!r} must be a relative path inside the output folder")
        return rel

    def path(self, name: str | PurePath) -> Path:
        """Return where to write ``name`` (relative to the target folder) in the staging folder."""
        rel = self._relative(name)
        where = self.staging.joinpath(*rel.parts)
        where.parent.mkdir(parents=True, exist_ok=True)
        if rel.as_posix() not in self.written:
            self.written.append(rel.as_posix())
        return where

    def final(self, name: str | PurePath) -> Path:
        """Return the path ``name`` will have in the target folder after the commit."""
        return self.target.joinpath(*self._relative(name).parts)

    def write(self, name: str | PurePath, data: bytes) -> Path:
        """Write ``data`` as ``name`` and return its final path (see :meth:`final`)."""
        where = self.path(name)
        try:
            with open(where, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise OutputError(f"could not write {self.final(name)}: {exc.strerror or exc}. "
                              "Free some disk space or choose another --out folder.") from None
        return self.final(name)

    def subset(self, folder: str | PurePath) -> OutputSet:
        """Return a view of this set whose names are relative to ``folder`` inside it."""
        rel = self._relative(folder)
        view = _SubSet(self, rel)
        return view

    def _owned(self, name: str) -> bool:
        return name in {w.split("/")[0] for w in self.written} or any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self.owns)


class _SubSet(OutputSet):
    """A sub-folder of an :class:`OutputSet`, for writers that take a folder of their own."""

    def __init__(self, parent: OutputSet, prefix: PurePosixPath) -> None:
        super().__init__(parent.target.joinpath(*prefix.parts), parent.staging.joinpath(*prefix.parts), ())
        self._parent = parent
        self._prefix = prefix

    def path(self, name: str | PurePath) -> Path:
        return self._parent.path(self._prefix / self._relative(name))

    def final(self, name: str | PurePath) -> Path:
        return self._parent.final(self._prefix / self._relative(name))

    def write(self, name: str | PurePath, data: bytes) -> Path:
        return self._parent.write(self._prefix / self._relative(name), data)


def _lock(path: Path, *, blocking: bool) -> int | None:
    """Take an exclusive lock on the folder ``path``; return its descriptor, ``None`` if held elsewhere.

    Locks are ``flock`` locks on the folders themselves (no lock files to leave behind);
    the system drops them when their process dies, however it dies.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _clean_stale(target: Path) -> None:
    """Remove staging folders of dead runs beside ``target``; undo a half-done swap.

    Runs with the parent folder locked, as commits do, so it never meets a live swap
    half-way; a staging folder whose lock is free belongs to a dead run.
    """
    parent = target.parent
    if not parent.is_dir():
        return
    prefix = f".{target.name}."
    parent_lock = _lock(parent, blocking=True)
    try:
        for entry in sorted(parent.iterdir()):
            name = entry.name
            if not name.startswith(prefix) or not entry.is_dir() or not (".staging-" in name or ".old-" in name):
                continue
            if ".old-" in name:  # a swap cut between its two renames: put the old set back
                if not target.exists():
                    os.rename(entry, target)
                else:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            held = _lock(entry, blocking=False)
            if held is not None:  # its run is dead
                try:
                    shutil.rmtree(entry, ignore_errors=True)
                finally:
                    _unlock(held)
    finally:
        _unlock(parent_lock)


def _foreign_entries(target: Path) -> list[str]:
    """Names in ``target`` that passages does not write (empty if it holds a manifest)."""
    if not target.is_dir() or (target / MANIFEST).is_file():
        return []
    odd = []
    for entry in target.iterdir():
        special = entry.is_symlink() or not (entry.is_dir() or entry.is_file())
        if special or (entry.is_file() and not entry.name.lower().endswith(_OUTPUT_ENDINGS)):
            odd.append(entry.name)
    return sorted(odd)


def check_output_folder(target: str | Path, *, field: str = "--out") -> Path:
    """Return the absolute output folder ``target`` if a run may write its set there; else raise.

    Refused, with one :class:`InputError` naming the folder and the fix: a path that is a
    file; the current folder, one of its parents, the home folder or the root (a swap
    would pull the folder from under the shell); a name longer than
    :data:`MAX_FOLDER_NAME_BYTES` bytes; a folder that holds files passages does not write
    and no manifest (somebody's own folder); a parent that cannot be created or written.
    """
    target = Path(os.path.abspath(Path(target).expanduser()))
    with contextlib.suppress(OSError):
        target = target.resolve()
    fix = "Give --out a new folder, or one passages wrote before."
    if len(os.fsencode(target.name)) > MAX_FOLDER_NAME_BYTES:
        raise InputError(f"the folder name is longer than {MAX_FOLDER_NAME_BYTES} bytes", path=target,
                         field=field, fix="Give a shorter folder name.")
    if len(os.fsencode(str(target))) > 3800:
        raise InputError("the path is too long", path=target, field=field, fix="Give a shorter path.")
    cwd = Path.cwd().resolve()
    special = {Path(target.anchor), Path.home().resolve(), cwd, *cwd.parents}
    if target in special:
        raise InputError("is the current folder, one of its parents, the home folder or the root", path=target,
                         field=field, fix="Give --out a folder of its own, such as maps/my-area.")
    if target.exists() and not target.is_dir():
        raise InputError("is a file, not a folder", path=target, field=field, fix=fix)
    foreign = _foreign_entries(target)
    if foreign:
        shown = ", ".join(repr(n) for n in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(f"the folder holds files passages did not write ({shown})", path=target, field=field,
                         fix=fix)
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot create the folder: {existing} is a file", path=target, field=field, fix=fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in {existing} (read-only or not ours)", path=target, field=field, fix=fix)
    return target


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


def _link_tree(source: Path, destination: Path) -> None:
    """Give ``destination`` the contents of ``source`` by hard links (copies across devices)."""
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_symlink():
        os.symlink(os.readlink(source), destination)
    elif source.is_dir():
        shutil.copytree(source, destination, symlinks=True, copy_function=link_or_copy,
                        ignore=shutil.ignore_patterns(".*.staging-*", ".*.old-*"))
    else:
        link_or_copy(str(source), str(destination))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); ``False`` where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)


def _commit(out: OutputSet) -> None:
    target, staging = out.target, out.staging
    _fault("staged")
    if target.is_dir():
        for entry in target.iterdir():
            name = entry.name
            stale_tmp = name.startswith(".") and ".tmp" in name
            if name == MANIFEST or stale_tmp or out._owned(name) or (staging / name).exists():
                continue
            _link_tree(entry, staging / name)
    files = sorted(str(p.relative_to(staging).as_posix()) for p in staging.rglob("*")
                   if p.is_file() and p.name != MANIFEST)
    manifest = {"complete": True, "files": files, "this_run": sorted(out.written)}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    _fsync_tree(staging)
    os.chmod(staging, 0o755)
    _fault("carried")
    if not target.exists():
        os.rename(staging, target)
    elif _exchange(staging, target):
        _fault("exchanged")
        shutil.rmtree(staging, ignore_errors=True)  # the previous set, now at the staging path
    else:  # two renames; a run cut between them is undone by _clean_stale
        old = staging.with_name(staging.name.replace(".staging-", ".old-"))
        os.rename(target, old)
        _fault("moved-old")
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def output_set(target: str | Path, *, owns: Sequence[str] = (), field: str = "--out") -> Iterator[OutputSet]:
    """Stage a run's output set beside ``target`` and swap it in when the block succeeds.

    Parameters
    ----------
    target
        The output folder (created if missing). Checked first by
        :func:`check_output_folder`, so an unusable folder stops the run before any work.
    owns
        Glob patterns of the entries of ``target`` this run replaces even if it does not
        write them again (``"officer*.gpx"``, or ``"*"`` for a folder the run owns whole).
        Entries the run writes are always replaced; every other entry is kept.
    field
        The option that named the folder, for messages.

    Yields
    ------
    OutputSet
        Write through its :meth:`~OutputSet.path` / :meth:`~OutputSet.write`.

    Raises
    ------
    InputError
        ``target`` cannot be an output folder (see :func:`check_output_folder`) or the
        staging folder cannot be made beside it.
    OutputError
        The set could not be written or swapped in (a full disk); nothing of it is left.
    """
    final = check_output_folder(target, field=field)
    try:
        created = _make_parents(final.parent)  # removed again if the run fails
        _clean_stale(final)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    except OSError as exc:
        raise InputError(f"cannot write beside this folder ({exc.strerror or exc})", path=final, field=field,
                         fix="Give --out a folder on a writable disk.") from None
    held = _lock(staging, blocking=True)
    commit_lock: int | None = None
    out = OutputSet(final, staging, owns)
    try:
        yield out
        commit_lock = _lock(final.parent, blocking=True)
        try:
            _commit(out)
        except OSError as exc:
            raise OutputError(f"could not write the outputs to {final}: {exc.strerror or exc}. "
                              "Free some disk space or choose another --out folder; the previous "
                              "outputs are untouched.") from None
    except OSError as exc:
        if isinstance(exc, PassagesError):
            raise
        raise OutputError(f"could not write the outputs to {final}: {exc.strerror or exc}. Free some disk "
                          "space or choose another --out folder; the previous outputs are untouched.") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        _unlock(commit_lock)
        _unlock(held)
        if not final.exists():  # the run failed: take away the parents it made
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def writing_to(out: str | Path | OutputSet | None, default: Path, *, owns: Sequence[str] = (),
               ) -> contextlib.AbstractContextManager[OutputSet]:
    """Return a context giving an :class:`OutputSet`: ``out`` itself, or a new set in that folder.

    Public writers take ``out`` as a folder (``None`` for ``default``) or as a set the
    caller has opened, so that a command can put several writers' files in one set.
    """
    if isinstance(out, OutputSet):
        return contextlib.nullcontext(out)
    return output_set(Path(out) if out is not None else default, owns=owns)
