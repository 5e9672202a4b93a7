"""A lock file left by a stopped kernel build: named with its fix, not waited on forever."""
import os
import os.path as osp
import subprocess
import sys
import threading
import time
import warnings

import pytest

from frelu_mm.layers import build_lock, fused_kernel


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def make_lock(directory, age_s):
    """A lock in ``directory``, which (with all it holds) last changed ``age_s`` ago."""
    lock = osp.join(directory, build_lock.LOCK_NAME)
    open(lock, 'w').close()
    for entry in os.listdir(directory):
        age(osp.join(directory, entry), age_s)
    age(directory, age_s)
    return lock


def test_stale_lock_is_named_with_its_fix_and_kept(tmp_path):
    (tmp_path / 'build.ninja').write_text('')
    lock = make_lock(str(tmp_path), age_s=2000)
    assert build_lock.is_stale(str(tmp_path), quiet_s=900)  # else the wait below never ends
    t0 = time.time()
    with pytest.raises(build_lock.StaleBuildLock, match=f'rm {lock}'):
        build_lock.wait_for_build_lock(str(tmp_path), poll_s=0.05)
    assert time.time() - t0 < 5  # at once, not after a wait
    assert osp.exists(lock)  # the user removes it, not us


def test_young_lock_is_waited_on_until_released(tmp_path):
    lock = make_lock(str(tmp_path), age_s=0)
    threading.Timer(0.4, os.remove, (lock,)).start()
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no warning for a lock a build just took
        build_lock.wait_for_build_lock(str(tmp_path), poll_s=0.05)
    assert time.time() - t0 >= 0.3


def test_no_lock_returns_at_once(tmp_path):
    build_lock.wait_for_build_lock(str(tmp_path), quiet_s=0, poll_s=10)


def test_old_lock_in_a_changing_directory_warns_then_waits_for_quiet(tmp_path):
    """A build on another machine may still write there: warn with the fix, raise only
    once the directory has been unchanged for quiet_s."""
    lock = make_lock(str(tmp_path), age_s=120)
    (tmp_path / 'fused_frelu.o').write_text('')  # written just now
    assert not build_lock.is_stale(str(tmp_path), quiet_s=1.0)
    t0 = time.time()
    with pytest.warns(UserWarning, match=f'rm {lock}'):
        with pytest.raises(build_lock.StaleBuildLock):
            build_lock.wait_for_build_lock(str(tmp_path), quiet_s=1.0, warn_s=0.0,
                                           poll_s=0.05)
    assert time.time() - t0 >= 0.5


@pytest.mark.skipif(not osp.isdir('/proc/self'), reason='liveness is read from /proc')
def test_lock_of_a_live_build_is_not_stale(tmp_path):
    sub = tmp_path / 'sub'
    sub.mkdir()
    make_lock(str(tmp_path), age_s=2000)
    builder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],
                               cwd=str(sub))  # stands for ninja, working below the directory
    try:
        time.sleep(0.2)
        assert build_lock.building_in(str(tmp_path)) is True
        assert not build_lock.is_stale(str(tmp_path), quiet_s=900)
    finally:
        builder.kill()
        builder.wait()
    assert build_lock.building_in(str(tmp_path)) is False
    assert build_lock.is_stale(str(tmp_path), quiet_s=900)
    assert not build_lock.is_stale(str(tmp_path), quiet_s=3000)  # not quiet for that long


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
