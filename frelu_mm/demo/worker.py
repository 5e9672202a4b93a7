"""Run tool command lines one after another in this process (imports paid once).

    python -m frelu_mm.demo.worker '[["tools/train.py", CONFIG, ...], ["tools/test.py", ...]]'

Each command runs as ``python tools/X.py ARGS`` would. ``@last_checkpoint`` in a
command stands for the checkpoint named by ``<--work-dir>/last_checkpoint`` when that
command starts (the one the previous training wrote).
"""
import json
import os.path as osp
import runpy
import sys


def _resolve(argv):
    if '@last_checkpoint' not in argv:
        return argv
    work_dir = argv[argv.index('--work-dir') + 1]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    return [checkpoint if a == '@last_checkpoint' else a for a in argv]


def main(commands):
    for argv in commands:
        sys.argv = _resolve(list(argv))
        print('\n$ python ' + ' '.join(sys.argv), flush=True)
        runpy.run_path(sys.argv[0], run_name='__main__')


if __name__ == '__main__':
    main(json.loads(sys.argv[1]))
