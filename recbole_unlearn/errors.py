"""The one exception type the package raises for bad input.

Every message is a single line that names the file, field, key or id at fault, so the command-line runner can print it
as it is and exit non-zero without a traceback.
"""


class InputError(ValueError):
    """Bad input: a one-line message naming what is wrong and where."""
