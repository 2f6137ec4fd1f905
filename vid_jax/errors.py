"""The one exception type for bad user input."""


class UserError(ValueError):
  """Bad user input; tools print it as one line (`error: ...`) and exit 2."""


class NonFiniteLossError(RuntimeError):
  """Training produced a NaN/Inf loss; the last good checkpoint was kept."""
