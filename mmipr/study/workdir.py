"""Folders the study writes to: usable, and owned by one process at a time.

Two study processes on one work dir used to train the same runs into the
same folders at once, overwriting each other's checkpoints and results.
:func:`work_dir_lock` makes a work dir belong to one process: its lock file
names the holder (pid, host, start time, command). The lock itself is an
``flock`` on that file, which the kernel releases when the holder dies, so a
lock left by a killed process is taken over (with a warning that names it)
and a live holder is never displaced.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import os.path as osp
import socket
import sys
import warnings
from typing import Iterator

from mmipr.utils.validation import InvalidArgumentError

#: the lock file in a locked folder
LOCK_FILE = 'study.lock'


class StudyError(RuntimeError):
    """The study cannot go on; the message says why and what to do."""


class WorkDirLockedError(StudyError):
    """Another live process holds the work dir."""


def usable_folder(path: str, setting: str) -> str:
    """Create ``path`` if needed and check that files can be written there.

    Args:
        path (str): the folder.
        setting (str): the setting that named it, for the message (e.g.
            ``'--work-dir'``, ``'MMIPR_CACHE'``).

    Returns:
        str: ``path``.

    Raises:
        InvalidArgumentError: ``path`` is an existing file, cannot be
            created, or is not writable; the message names ``setting``.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise InvalidArgumentError(
            f'{setting} is {path!r}, an existing file, not a folder: point '
            f'{setting} at a folder (or move the file away)')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise InvalidArgumentError(
            f'{setting} is {path!r}, which cannot be created as a folder '
            f'({err.strerror}): point {setting} at a writable folder') \
            from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidArgumentError(
            f'{setting} is {path!r}, a folder this user cannot write to: '
            f'point {setting} at a writable folder')
    return path


def _holder_text(holder: dict) -> str:
    return (f'process {holder.get("pid")} on {holder.get("host")} (started '
            f'{holder.get("started")}: {holder.get("command")})')


def _read_holder(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 1 << 16).decode(errors='replace')
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _acquire(path: str, folder: str, setting: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise WorkDirLockedError(
                f'{setting} {folder} is in use by {_holder_text(holder)}; '
                'two processes on one folder would overwrite each other\'s '
                'checkpoints and results. Wait for it to finish, stop it, '
                f'or choose another {setting}.') from None
        # the holder before us may have removed the file between our open
        # and our lock: then we hold a lock on a file nobody sees; retry
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def work_dir_lock(folder: str, setting: str = '--work-dir') -> Iterator[dict]:
    """Hold ``folder`` for this process while the block runs.

    Args:
        folder (str): the folder (created if absent).
        setting (str): the setting that named it, for messages.

    Yields:
        dict: this process's entry in the lock file (``pid``, ``host``,
        ``started``, ``command``).

    Raises:
        WorkDirLockedError: a live process holds ``folder``; the message
            names it (pid, host, start time, command).
    """
    usable_folder(folder, setting)
    path = osp.join(folder, LOCK_FILE)
    fd = _acquire(path, folder, setting)
    try:
        stale = _read_holder(fd)
        if stale:
            gone = (stale.get('host') == socket.gethostname()
                    and not _pid_alive(stale.get('pid')))
            warnings.warn(
                f'{path} names {_holder_text(stale)}, which '
                + ('no longer runs' if gone else 'no longer holds it')
                + ' (killed before it could unlock): taken over.')
        holder = dict(pid=os.getpid(), host=socket.gethostname(),
                      started=datetime.datetime.now(
                          datetime.timezone.utc).isoformat(timespec='seconds'),
                      command=' '.join(sys.argv))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(holder).encode())
        os.fsync(fd)
        yield holder
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.close(fd)  # releases the flock
