"""A build lock left behind by a stopped build of the C++ kernel.

``torch.utils.cpp_extension.load`` takes a lock file, ``<build directory>/lock``, while
it compiles and removes it when done. A process killed during the build (Ctrl-C, a
job's time limit) leaves the file behind, and every later ``load`` of that extension
then waits on it for ever. ``wait_for_build_lock`` waits while a build may still hold
the lock, warns with the fix once no process on this machine builds there, and raises
``StaleBuildLock`` once the directory has also stayed unchanged for ``quiet_s``.

A build on this machine is seen from ``/proc/<pid>/cwd`` (torch runs ninja and the
compilers in the build directory). A build on another machine sharing the directory
(a home on a network file system) cannot be seen; it writes the directory's files as
each source compiles, so a directory quiet for ``quiet_s`` (15 minutes; the whole
build takes about 8 on 2 cores) has no build left. Without ``/proc`` this waits as
torch does.
"""
import os
import os.path as osp
import time
import warnings

LOCK_NAME = 'lock'  # torch's FileBaton in the build directory


class StaleBuildLock(RuntimeError):
    """The kernel's build directory holds a lock that no running build owns."""


def build_directory(name: str) -> str:
    """Where torch builds the extension ``name`` (``TORCH_EXTENSIONS_DIR`` honoured)."""
    from torch.utils.cpp_extension import _get_build_directory
    return _get_build_directory(name, verbose=False)


def building_in(directory: str):
    """Whether a process on this machine works in ``directory`` (or below it); None
    where that cannot be read (no ``/proc``)."""
    if not osp.isdir('/proc/self'):
        return None
    directory = osp.realpath(directory)
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink(f'/proc/{pid}/cwd')
        except OSError:  # gone, or another user's process
            continue
        if cwd == directory or cwd.startswith(directory + os.sep):
            return True
    return False


def quiet_for(directory: str) -> float:
    """Seconds since anything in ``directory`` (its entries, not below) last changed."""
    times = [os.stat(directory).st_mtime]
    for entry in os.scandir(directory):
        try:
            times.append(entry.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:  # removed meanwhile
            pass
    return time.time() - max(times)


def lock_message(lock: str) -> str:
    return (f'the FReLU kernel build is locked by {lock}, and no process on this machine '
            f'is building there: a build was stopped. Remove the lock and run again: '
            f'rm {lock}')


def unowned_for(directory: str):
    """Seconds ``directory`` has been unchanged while no process here builds there;
    None while one does (or where that cannot be seen)."""
    return quiet_for(directory) if building_in(directory) is False else None


def is_stale(directory: str, quiet_s: float = 900.0) -> bool:
    """Whether ``directory`` holds a lock, no process here builds there, and nothing in
    it changed for ``quiet_s`` seconds."""
    if not osp.exists(osp.join(directory, LOCK_NAME)):
        return False
    unowned = unowned_for(directory)
    return unowned is not None and unowned >= quiet_s


def wait_for_build_lock(directory: str, quiet_s: float = 900.0, warn_s: float = 60.0,
                        poll_s: float = 1.0) -> None:
    """Return once ``directory`` holds no lock (a live build finished); raise
    ``StaleBuildLock`` if the lock is stale (``is_stale``).

    Args:
        directory (str): the extension's build directory.
        quiet_s (float): how long the directory stays unchanged before a lock that no
            process here holds counts as stale.
        warn_s (float): after this many seconds of such a lock, warn (once) with the fix.
        poll_s (float): seconds between looks.
    """
    lock = osp.join(directory, LOCK_NAME)
    warned = False
    while osp.exists(lock):
        unowned = unowned_for(directory)  # one look at /proc and the directory per poll
        if unowned is not None and unowned >= quiet_s:
            raise StaleBuildLock(lock_message(lock))
        if unowned is not None and unowned >= warn_s and not warned:
            warnings.warn(f'{lock_message(lock)} (unless a build on another machine shares '
                          f'this directory; waiting until it has been unchanged for '
                          f'{quiet_s / 60:.0f} minutes)', stacklevel=3)
            warned = True
        time.sleep(poll_s)
