"""2-process DDP (gloo, CPU) and SIGKILL-then-resume, through the real tools.

Both compare final weights. The model uses GroupNorm everywhere and plain SGD, the
pipeline has no random transform, dropout is off and the sampler does not shuffle, so
the runs see the same data and only float summation order can differ.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from frelu_mm.demo_data import make_cityscapes_scenes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TESTS = osp.dirname(osp.abspath(__file__))
GN = "dict(type='GN', num_groups=2, requires_grad=True)"


def write_config(tmp_path, data_root, out_dir, batch_size, iters):
    path = tmp_path / f'cfg_b{batch_size}_i{iters}.py'
    path.write_text(f"""
_base_ = {osp.join(ROOT, 'configs', 'demo', 'pspnet_frelu_demo.py')!r}
custom_imports = dict(imports=['frelu_mm', 'dump_weights_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='DumpWeightsHook', out_dir={str(out_dir)!r})]
gn = {GN}
model = dict(
    data_preprocessor=dict(size=(64, 128)),
    backbone=dict(base_channels=2, stem_channels=8, norm_cfg=gn,
                  act_cfg=dict(type='FReLU', norm_cfg=gn)),
    decode_head=dict(in_channels=64, channels=8, norm_cfg=gn, dropout_ratio=0.0),
    auxiliary_head=dict(in_channels=32, channels=4, norm_cfg=gn, dropout_ratio=0.0))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
train_dataloader = dict(batch_size={batch_size}, sampler=dict(shuffle=False),
                        dataset=dict(data_root={data_root!r}, pipeline=pipeline))
val_dataloader = dict(dataset=dict(data_root={data_root!r}))
test_dataloader = val_dataloader
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = []
train_cfg = dict(max_iters={iters}, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=10), logger=dict(interval=1))
""")
    return str(path)


def env():
    e = dict(os.environ)
    e['PYTHONPATH'] = os.pathsep.join([TESTS, e.get('PYTHONPATH', '')])
    e['PATH'] = os.pathsep.join([osp.dirname(sys.executable), e.get('PATH', '')])
    e['OMP_NUM_THREADS'] = '1'
    return e


def run(cmd, **kwargs):
    done = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=900, **kwargs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scenes'))
    make_cityscapes_scenes(root, num_train=8, num_val=2, size=(64, 128))
    return root + '/'


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def assert_weights_close(a, b, atol):
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=k)
        else:
            assert torch.equal(a[k], b[k]), k


def test_ddp_two_processes_match_one_process(tmp_path, data_root):
    ddp_out, single_out = tmp_path / 'ddp', tmp_path / 'single'
    ddp_out.mkdir(), single_out.mkdir()
    cfg = write_config(tmp_path, data_root, ddp_out, batch_size=2, iters=3)
    run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', str(tmp_path / 'w_ddp')],
        input='')
    rank0, rank1 = load(ddp_out / 'rank0.pth'), load(ddp_out / 'rank1.pth')
    assert_weights_close(rank0, rank1, atol=0)  # DDP keeps replicas identical

    cfg = write_config(tmp_path, data_root, single_out, batch_size=4, iters=3)
    run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(tmp_path / 'w_single')])
    # Same samples per step (2 x 2 vs 1 x 4) and batch-independent norms: the gradient is
    # the same mean, summed in another order; 3 SGD steps of float32 rounding stay far
    # below 1e-4.
    assert_weights_close(rank0, load(single_out / 'rank0.pth'), atol=1e-4)


def test_sigkill_then_resume_ends_with_the_same_weights(tmp_path, data_root):
    full_out, crash_out = tmp_path / 'full', tmp_path / 'crash'
    full_out.mkdir(), crash_out.mkdir()
    run([sys.executable, 'tools/train.py',
         write_config(tmp_path, data_root, full_out, batch_size=2, iters=10),
         '--work-dir', str(tmp_path / 'w_full')])

    cfg = write_config(tmp_path, data_root, crash_out, batch_size=2, iters=10)
    work = tmp_path / 'w_crash'
    proc = subprocess.Popen([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work)],
                            cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (work / 'iter_3.pth').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (work / 'iter_10.pth').exists(), 'the run finished before it could be killed'
    assert not (crash_out / 'rank0.pth').exists()

    # a kill that lands while mmengine rewrites last_checkpoint leaves it empty (a CI run
    # under load hit it): make that happen every time; --resume takes the newest readable
    (work / 'last_checkpoint').write_text('')
    log = run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work), '--resume'])
    assert 'the newest readable one' in log
    assert 'Auto resumed from the latest checkpoint' in log
    assert_weights_close(load(full_out / 'rank0.pth'), load(crash_out / 'rank0.pth'), atol=1e-6)


def test_sync_bn_reaches_frelu_norm():
    from mmengine.model import convert_sync_batchnorm as convert  # what cfg.sync_bn calls
    from frelu_mm import FReLU
    from frelu_mm.models import ActResNetV1c
    net = convert(ActResNetV1c(depth=50, base_channels=2, stem_channels=8,
                               act_cfg=dict(type='FReLU')), 'torch')
    norms = [m.norm for m in net.modules() if isinstance(m, FReLU)]
    assert len(norms) == 39 and all(isinstance(n, torch.nn.SyncBatchNorm) for n in norms)
    built = FReLU(8, norm_cfg=dict(type='SyncBN'))
    assert isinstance(built.norm, torch.nn.SyncBatchNorm)
