"""The README's Python snippets run as written, and its two commands exist."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def readme():
    with open(osp.join(ROOT, 'README.md')) as f:
        return f.read()


def test_python_snippets_run():
    blocks = re.findall(r'```python\n(.*?)```', readme(), flags=re.S)
    assert blocks, 'the README should show how to use FReLU in Python'
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), {})


def test_ci_runs_the_readme_test_command():
    text = readme()
    assert '`bash scripts/test.sh`' in text and '`bash scripts/demo.sh`' in text
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        assert 'bash scripts/test.sh' in f.read()


def test_setup_is_idempotent_when_up_to_date():
    # the environment running this test was made by scripts/setup_env.sh (or by hand);
    # when its stamp is current, a second run must return at once without installing
    venv = osp.basename(sys.prefix)  # .venv (torch 2.13) or .venv-torch2.1
    stamp = osp.join(ROOT, venv, '.frelu_mm_setup')
    if not osp.exists(stamp):
        pytest.skip('environment not made by scripts/setup_env.sh')
    torch_line = venv[len('.venv-torch'):] if venv.startswith('.venv-torch') else '2.13'
    out = subprocess.run(['bash', 'scripts/setup_env.sh'], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, 'FRELU_MM_TORCH': torch_line})
    assert out.returncode == 0 and out.stdout == '' and out.stderr == ''
