"""The demo's protocol: pretrain, fine-tune, several seeds, mean ± std (tools/run_demo.py)."""
from .execute import execute
from .plan import PAPER_ARMS, STUDY_ARMS, Arm, Run, demo_plan
from .report import report
from .summary import mean_std, summarize

__all__ = ['execute', 'PAPER_ARMS', 'STUDY_ARMS', 'Arm', 'Run', 'demo_plan', 'report',
           'mean_std', 'summarize']
