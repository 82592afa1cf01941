"""Every flag that README.md and docs/ show for a tool under tools/ is one
that the tool's argument parser accepts."""
import argparse
import glob
import importlib.util
import os.path as osp
import re

import pytest
from conftest import REPO

DOCS = [osp.join(REPO, 'README.md'), osp.join(REPO, 'configs', 'README.md')] \
    + sorted(glob.glob(osp.join(REPO, 'docs', '*.md')))
COMMAND = re.compile(r'(tools/[\w/]+\.py)([^`|#\n]*)')
FLAG = re.compile(r'(?<![\w-])--[a-z][\w-]*')


def documented_commands() -> dict:
    """tool path -> set of (flag, where) shown with it."""
    found = {}
    for doc in DOCS:
        text = open(doc).read().replace('\\\n', ' ')  # shell continuations
        for line_no, line in enumerate(text.splitlines(), 1):
            for tool, rest in COMMAND.findall(line):
                flags = found.setdefault(tool, set())
                for flag in FLAG.findall(rest):
                    flags.add((flag, f'{osp.relpath(doc, REPO)}:{line_no}'))
    return found


class _Parsed(Exception):
    def __init__(self, parser):
        self.parser = parser


def tool_options(tool: str) -> set:
    """The option strings of ``tool``'s parser: the tool is imported and its
    ``main`` (or ``parse_args``) run until it parses its arguments."""
    spec = importlib.util.spec_from_file_location(
        'doc_tool_' + re.sub(r'\W', '_', tool), osp.join(REPO, tool))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry = getattr(module, 'parse_args', None) or module.main
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        raise _Parsed(self)
    argparse.ArgumentParser.parse_args = capture
    try:
        entry()
    except _Parsed as parsed:
        return {s for action in parsed.parser._actions
                for s in action.option_strings}
    finally:
        argparse.ArgumentParser.parse_args = original
    raise AssertionError(f'{tool} did not parse arguments')


COMMANDS = documented_commands()


def test_the_docs_show_tool_commands():
    assert 'tools/dataset/make_synthetic_coco.py' in COMMANDS
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize('tool', sorted(COMMANDS))
def test_documented_flags_exist(tool):
    assert osp.isfile(osp.join(REPO, tool)), f'{tool} is shown but missing'
    options = tool_options(tool)
    unknown = sorted(f'{flag} ({where})' for flag, where in COMMANDS[tool]
                     if flag not in options)
    assert not unknown, f'{tool} does not accept: {", ".join(unknown)}'
