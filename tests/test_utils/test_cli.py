"""The command-line arguments the tools share (mmsp.utils.cli)."""
import argparse

import pytest

from mmsp.utils import add_method_argument, add_non_strict_argument


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='tool')
    add_method_argument(parser, 'config [checkpoint]')
    add_non_strict_argument(parser, 'each model')
    return parser


def test_methods_repeat_and_non_strict():
    args = _parser().parse_args(['--method', 'a.py', '--method', 'b.py', 'b.pth', '--non-strict'])
    assert args.method == [['a.py'], ['b.py', 'b.pth']] and args.non_strict
    assert not _parser().parse_args(['--method', 'a.py']).non_strict
    assert 'load what matches each model' in _parser().format_help()


def test_three_values_or_no_method_is_an_error(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(['--method', 'a.py', 'b.pth', 'c'])
    assert 'takes CONFIG [CHECKPOINT]' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parser().parse_args([])
