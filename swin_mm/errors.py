"""The exception for a configuration swin_mm cannot build."""

__all__ = ['ConfigError']


class ConfigError(ValueError, AssertionError):
    """A constructor argument or config value that cannot be built; the message names the value
    and what was expected.

    A ValueError (what it is) and an AssertionError (what MMDetection, MMSegmentation and
    MMPretrain raise for the same mistakes), so code and tests written for the peers catch it.
    """
