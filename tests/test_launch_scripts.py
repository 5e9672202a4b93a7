"""The commands tools/dist_*.sh and tools/slurm_*.sh assemble (DRY_RUN=1), for 2 nodes."""
import os
import os.path as osp
import shlex
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def assembled(script, *args, **env):
    """The argv the script would run, as it prints it with DRY_RUN=1."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ('NNODES', 'NODE_RANK', 'PORT', 'MASTER_ADDR', 'GPUS',
                            'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS', 'PYTHON')}
    environ.update(DRY_RUN='1', **env)
    out = subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args], env=environ,
                         capture_output=True, text=True, check=True).stdout
    return shlex.split(out)


def torchrun_options(argv):
    assert argv[:3] == ['python', '-m', 'torch.distributed.run'], argv
    options = {}
    for arg in argv[3:]:
        if not arg.startswith('--'):
            break
        key, value = arg[2:].split('=', 1)
        options[key] = value
    return options, argv[3 + len(options):]


@pytest.mark.parametrize('node_rank', ['0', '1'])
def test_dist_train_two_nodes(node_rank):
    argv = assembled('dist_train.sh', 'configs/retinanet_frelu.py', '8', '--amp',
                     NNODES='2', NODE_RANK=node_rank, MASTER_ADDR='10.1.1.1', PORT='29601')
    options, rest = torchrun_options(argv)
    assert options == {'nnodes': '2', 'node_rank': node_rank, 'nproc_per_node': '8',
                       'master_addr': '10.1.1.1', 'master_port': '29601'}
    assert rest == ['tools/train.py', 'configs/retinanet_frelu.py', '--launcher', 'pytorch',
                    '--amp']


def test_dist_test_two_nodes_and_defaults():
    argv = assembled('dist_test.sh', 'configs/pspnet_frelu.py', 'work dirs/iter_8.pth', '4',
                     NNODES='2', NODE_RANK='1', MASTER_ADDR='node-a')
    options, rest = torchrun_options(argv)
    assert options == {'nnodes': '2', 'node_rank': '1', 'nproc_per_node': '4',
                       'master_addr': 'node-a', 'master_port': '29500'}
    assert rest == ['tools/test.py', 'configs/pspnet_frelu.py', 'work dirs/iter_8.pth',
                    '--launcher', 'pytorch']
    # one node by default, as mmdetection's script
    options, _ = torchrun_options(assembled('dist_test.sh', 'c.py', 'ck.pth', '2'))
    assert options['nnodes'] == '1' and options['node_rank'] == '0'
    assert options['master_addr'] == '127.0.0.1'


def test_slurm_train_two_nodes():
    argv = assembled('slurm_train.sh', 'gpu', 'frelu_r50', 'configs/retinanet_frelu.py',
                     'work_dirs/r50', '--cfg-options', 'train_cfg.max_epochs=1',
                     GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='4',
                     SRUN_ARGS='--quotatype=auto --time 2:00:00', PYTHON='/opt/py/bin/python')
    assert argv == ['srun', '-p', 'gpu', '--job-name=frelu_r50', '--gres=gpu:8', '--ntasks=16',
                    '--ntasks-per-node=8', '--cpus-per-task=4', '--kill-on-bad-exit=1',
                    '--quotatype=auto', '--time', '2:00:00',
                    '/opt/py/bin/python', '-u', 'tools/train.py', 'configs/retinanet_frelu.py',
                    '--work-dir=work_dirs/r50', '--launcher=slurm',
                    '--cfg-options', 'train_cfg.max_epochs=1']


def test_slurm_test_defaults():
    argv = assembled('slurm_test.sh', 'gpu', 'eval', 'configs/pspnet_frelu.py', 'ck.pth')
    assert argv == ['srun', '-p', 'gpu', '--job-name=eval', '--gres=gpu:8', '--ntasks=8',
                    '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
                    'python', '-u', 'tools/test.py', 'configs/pspnet_frelu.py', 'ck.pth',
                    '--launcher=slurm']
