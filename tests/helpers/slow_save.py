"""A hook that makes the Runner's second checkpoint take a minute to write (an object in it pickles
slowly), so that a test can kill the process while MMEngine writes that checkpoint.

    python -c "import tests.helpers.slow_save; ..." with custom hook type SlowSecondSaveHook
"""
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class SlowPickle:
    def __reduce__(self):
        time.sleep(60)
        return int, ()


@HOOKS.register_module(force=True)
class SlowSecondSaveHook(Hook):
    saves = 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.saves += 1
        if self.saves == 2:
            checkpoint['slow'] = SlowPickle()
