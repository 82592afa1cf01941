"""Every flag that README.md and docs/ show for a tool under tools/ is one
that the tool's argument parser accepts: declared in the tool's own source
(read, not run), or, for a tool whose parser is built elsewhere (MMPose's
train and test tools), listed by its ``--help``."""
import ast
import glob
import os.path as osp
import re
import subprocess
import sys

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


def declared_options(tool: str) -> set | None:
    """The option strings the tool's own source declares
    (``add_argument('--x', ...)`` with literal strings), read without running
    it; None when it declares none (its parser is built elsewhere)."""
    tree = ast.parse(open(osp.join(REPO, tool)).read())
    options = {arg.value for node in ast.walk(tree)
               if isinstance(node, ast.Call)
               and getattr(node.func, 'attr', None) == 'add_argument'
               for arg in node.args
               if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
               and arg.value.startswith('-')}
    return (options | {'-h', '--help'}) if options else None


def help_options(tool: str) -> set:
    """The option strings ``python TOOL --help`` lists, as a user runs it."""
    out = subprocess.run([sys.executable, osp.join(REPO, tool), '--help'],
                         cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f'{tool} --help failed:\n{out.stderr[-3000:]}'
    options = set()
    for line in out.stdout.splitlines():
        if line.lstrip().startswith('-'):
            # "  -h, --help  show ...": the options, before the help text
            options.update(re.findall(r'(?<![\w-])--?[\w][\w-]*',
                                      re.split(r'\s{2,}', line.strip())[0]))
    return options


def tool_options(tool: str) -> set:
    """The option strings ``tool``'s parser accepts."""
    return declared_options(tool) or help_options(tool)


COMMANDS = documented_commands()


def test_the_docs_show_tool_commands():
    assert 'tools/dataset/make_synthetic_coco.py' in COMMANDS
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize('tool', sorted(COMMANDS))
def test_documented_flags_exist(tool):
    assert osp.isfile(osp.join(REPO, tool)), f'{tool} is shown but missing'
    if not COMMANDS[tool]:
        return  # shown without flags: nothing to check
    options = tool_options(tool)
    unknown = sorted(f'{flag} ({where})' for flag, where in COMMANDS[tool]
                     if flag not in options)
    assert not unknown, f'{tool} does not accept: {", ".join(unknown)}'
