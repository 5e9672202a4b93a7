"""A build lock left behind by a stopped build of the C++ kernel.

``torch.utils.cpp_extension.load`` takes a lock file, ``<build directory>/lock``, while
it compiles and removes it when done. A process killed during the build (Ctrl-C, a
job's time limit) leaves the file behind, and every later ``load`` of that extension
then waits on it forever. ``wait_for_build_lock`` waits while a live build holds the
lock and raises ``StaleBuildLock``, naming the file to remove, once no process is
building there any more.

A build is live while some process works in the build directory (torch runs ninja
and the compilers there); on Linux that is read from ``/proc/<pid>/cwd``. Elsewhere
liveness cannot be seen, and this waits as torch would.
"""
import os
import os.path as osp
import time

LOCK_NAME = 'lock'  # torch's FileBaton in the build directory


class StaleBuildLock(RuntimeError):
    """The kernel's build directory holds a lock that no running build owns."""


def build_directory(name: str) -> str:
    """Where torch builds the extension ``name`` (``TORCH_EXTENSIONS_DIR`` honoured)."""
    from torch.utils.cpp_extension import _get_build_directory
    return _get_build_directory(name, verbose=False)


def building_in(directory: str):
    """Whether a process works in ``directory`` (or below it); None where that cannot
    be read (no ``/proc``)."""
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


def is_stale(directory: str, grace_s: float = 60.0) -> bool:
    """Whether ``directory``'s lock exists, is older than ``grace_s`` (torch writes the
    ninja file before ninja starts) and no process builds there."""
    lock = osp.join(directory, LOCK_NAME)
    try:
        age = time.time() - os.stat(lock).st_mtime
    except FileNotFoundError:
        return False
    return age >= grace_s and building_in(directory) is False


def wait_for_build_lock(directory: str, grace_s: float = 60.0, poll_s: float = 1.0) -> None:
    """Return once ``directory`` holds no lock (a live build finished); raise
    ``StaleBuildLock`` if the lock outlives every build.

    Args:
        directory (str): the extension's build directory.
        grace_s (float): a lock younger than this is taken as live.
        poll_s (float): seconds between looks.
    """
    lock = osp.join(directory, LOCK_NAME)
    while osp.exists(lock):
        if is_stale(directory, grace_s):
            raise StaleBuildLock(
                f'the FReLU kernel build is locked by {lock}, left by a build that was '
                f'stopped (no process is building there). Remove it and run again: '
                f'rm {lock}')
        time.sleep(poll_s)
