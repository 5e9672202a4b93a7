"""A lock file left by a stopped kernel build: named with its fix, not waited on forever."""
import os
import os.path as osp
import subprocess
import sys
import threading
import time

import pytest

from frelu_mm.layers import build_lock, fused_kernel


def make_lock(directory, age_s):
    lock = osp.join(directory, build_lock.LOCK_NAME)
    open(lock, 'w').close()
    then = time.time() - age_s
    os.utime(lock, (then, then))
    return lock


def test_stale_lock_is_named_with_its_fix_and_kept(tmp_path):
    lock = make_lock(str(tmp_path), age_s=120)
    assert build_lock.is_stale(str(tmp_path), grace_s=60)  # else the wait below never ends
    t0 = time.time()
    with pytest.raises(build_lock.StaleBuildLock, match=f'rm {lock}'):
        build_lock.wait_for_build_lock(str(tmp_path), grace_s=60, poll_s=0.05)
    assert time.time() - t0 < 5  # at once, not after a wait
    assert osp.exists(lock)  # the user removes it, not us


def test_young_lock_is_waited_on_until_released(tmp_path):
    lock = make_lock(str(tmp_path), age_s=0)
    threading.Timer(0.4, os.remove, (lock,)).start()
    t0 = time.time()
    build_lock.wait_for_build_lock(str(tmp_path), grace_s=60, poll_s=0.05)
    assert time.time() - t0 >= 0.3


def test_no_lock_returns_at_once(tmp_path):
    build_lock.wait_for_build_lock(str(tmp_path), grace_s=0, poll_s=10)


@pytest.mark.skipif(not osp.isdir('/proc/self'), reason='liveness is read from /proc')
def test_lock_of_a_live_build_is_not_stale(tmp_path):
    make_lock(str(tmp_path), age_s=120)
    sub = tmp_path / 'sub'
    sub.mkdir()
    builder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],
                               cwd=str(sub))  # stands for ninja, working below the directory
    try:
        time.sleep(0.2)
        assert build_lock.building_in(str(tmp_path)) is True
        assert not build_lock.is_stale(str(tmp_path), grace_s=60)
    finally:
        builder.kill()
        builder.wait()
    assert build_lock.building_in(str(tmp_path)) is False
    assert build_lock.is_stale(str(tmp_path), grace_s=60)
    assert not build_lock.is_stale(str(tmp_path), grace_s=600)  # younger than the grace


def test_load_kernel_warns_and_falls_back_on_a_stale_lock(tmp_path, monkeypatch):
    lock = make_lock(str(tmp_path), age_s=3600)
    assert build_lock.is_stale(str(tmp_path))  # else load_kernel would wait for ever
    monkeypatch.setattr(build_lock, 'build_directory', lambda name: str(tmp_path))
    monkeypatch.setattr(fused_kernel, '_kernel', None)
    monkeypatch.setattr(fused_kernel, '_tried', False)
    monkeypatch.setattr(fused_kernel, 'build_error', None)
    with pytest.warns(UserWarning, match=f'rm {lock}'):
        assert fused_kernel.load_kernel() is None
    assert isinstance(fused_kernel.build_error, build_lock.StaleBuildLock)
    assert fused_kernel.load_kernel() is None  # once and for all, as any failed build
    monkeypatch.setattr(fused_kernel, '_tried', False)
    with pytest.raises(build_lock.StaleBuildLock):
        fused_kernel.load_kernel(raise_errors=True)
