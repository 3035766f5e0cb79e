"""Command-line arguments that several mmsp tools take in the same form."""
import argparse

__all__ = ['add_method_argument', 'add_non_strict_argument']


class _MethodAction(argparse.Action):
    """``--method CONFIG [CHECKPOINT]``, repeatable (appends); more than two values is an
    error."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) > 2:
            parser.error(f'{option_string} takes CONFIG [CHECKPOINT], got {values}')
        setattr(namespace, self.dest, list(getattr(namespace, self.dest) or []) + [values])


def add_method_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Add the repeatable ``--method CONFIG [CHECKPOINT]`` (a list of 1- or 2-lists)."""
    parser.add_argument(
        '--method',
        nargs='+',
        action=_MethodAction,
        required=True,
        metavar=('CONFIG', 'CHECKPOINT'),
        help=help)


def add_non_strict_argument(parser: argparse.ArgumentParser, what: str = 'the model') -> None:
    """Add ``--non-strict``: load what matches ``what`` and log the rest."""
    parser.add_argument(
        '--non-strict',
        action='store_true',
        help=f'load what matches {what} and log the rest (a deliberate partial load; by '
        'default a checkpoint whose keys or shapes differ is refused)')
