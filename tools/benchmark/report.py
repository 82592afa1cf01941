"""Write one benchmark's results into its own section of docs/benchmarks.md."""
from __future__ import annotations

import os.path as osp
import re
import subprocess
import sys

DOC = osp.join(osp.dirname(__file__), '..', '..', 'docs', 'benchmarks.md')
HEADER = ('# Benchmarks\n\nEach section is written by the script it names; '
          'ratios are measured within one run on the same machine.\n')


def _commit() -> str:
    try:
        return subprocess.check_output(
            ['git', 'rev-parse', '--short', 'HEAD'],
            cwd=osp.dirname(__file__), text=True,
            stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def write_section(name: str, body: str, doc: str = DOC) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md.

    Args:
        name (str): section id, e.g. ``'decode'``.
        body (str): markdown of the section, without the command line.
        doc (str): the markdown file to update.
    """
    command = 'python ' + ' '.join(
        [osp.relpath(sys.argv[0])] + sys.argv[1:])
    section = (f'<!-- begin:{name} -->\n{body.rstrip()}\n\n'
               f'Produced by `{command}` at commit {_commit()}.\n'
               f'<!-- end:{name} -->')
    text = open(doc).read() if osp.exists(doc) else HEADER
    pattern = re.compile(
        rf'<!-- begin:{re.escape(name)} -->.*?<!-- end:{re.escape(name)} -->',
        re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + '\n\n' + section + '\n'
    with open(doc, 'w') as f:
        f.write(text)
