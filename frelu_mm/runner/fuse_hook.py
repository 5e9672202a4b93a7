"""Fold FReLU's norm into its conv once the test checkpoint is loaded."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class FuseFReLUHook(Hook):
    """Calls ``frelu_mm.fuse_frelu`` on the model before testing (``tools/test.py --fuse``).

    The runner loads ``load_from`` before the test loop starts, so fusing here sees
    the trained weights.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        from .. import fuse_frelu
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        fuse_frelu(model)
