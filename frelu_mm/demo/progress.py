"""Live progress of the demo's runs: one bar per running run and one for the whole demo.

On a terminal, rich draws the bars (iteration, ETA, loss); elsewhere (a log file, CI)
one line is printed when a run starts, moves on to its test, and ends.
"""
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class ProgressView:
    """Context manager that shows the runs of :func:`frelu_mm.demo.execute.execute`."""

    def __init__(self, total: int):
        self.console = Console()
        self.live = self.console.is_terminal
        self.bars = {}
        self.progress = Progress(
            TextColumn('{task.description:<24}'), BarColumn(), MofNCompleteColumn(),
            TextColumn('{task.fields[status]}'), TimeElapsedColumn(), TextColumn('ETA'),
            TimeRemainingColumn(), console=self.console, disable=not self.live)
        self.overall = self.progress.add_task('demo runs', total=total, status='')

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def started(self, job) -> None:
        self.bars[job.run.key] = self.progress.add_task(job.run.key, total=None,
                                                        status='starting')
        if not self.live:
            print(f'[demo] {job.run.key}: training ({job.log})', flush=True)

    def update(self, job) -> None:
        bar = self.bars[job.run.key]
        if job.step == 'test':
            self.progress.update(bar, status='testing')
            return
        state = job.progress_state()
        if state.get('max_iters'):
            loss = state.get('loss')
            status = f'loss {loss:.3f}' if loss is not None else 'training'
            done = state['iter'] + (1 if loss is not None else 0)
            self.progress.update(bar, total=state['max_iters'], completed=done, status=status)

    def finished(self, job, score) -> None:
        self.progress.remove_task(self.bars.pop(job.run.key))
        self.progress.advance(self.overall)
        text = f'{job.run.key}: done in {job.seconds:.0f} s' + (
            f', score {score:.1f}' if score is not None else '')
        if self.live:
            self.progress.console.log(text)
        else:
            print(f'[demo] {text}', flush=True)
