"""One-line errors for mistakes a user can make (a config, a dataset, an override).

Every CLI catches `ActotError` and prints its message alone, without a traceback: the message
names the file, key or value at fault and says how to fix it.
"""


class ActotError(Exception):
    """A user-facing error whose message is one line: what is wrong and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def run_cli(main_fn, argv=None) -> int:
    """Run a CLI entry point, turning `ActotError` into `error: <message>` and exit status 2."""
    import sys

    try:
        return main_fn(argv) or 0
    except ActotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
