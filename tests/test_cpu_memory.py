"""GlibcMallocHook, checked with glibc's own accounting (mallinfo2)."""
import json
import platform
import subprocess
import sys

import pytest

from mmipr.engine import GlibcMallocHook

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                                reason='mallopt and mallinfo2 are glibc')

# In a fresh process, with the hook's settings given as JSON (or 'none'):
# malloc 8 MiB, read where glibc put it, free it, read what the heap kept.
# (A fresh process: glibc's thresholds move after the first large free.)
PROBE = '''
import ctypes, ctypes.util, json, sys
import mmipr
from mmipr.engine import GlibcMallocHook
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]
libc = ctypes.CDLL(ctypes.util.find_library('c'))
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] != 'none':
    GlibcMallocHook(**json.loads(sys.argv[1])).before_run()
size = 8 * 2**20
before = libc.mallinfo2()
block = libc.malloc(ctypes.c_size_t(size))
ctypes.memset(block, 1, size)
during = libc.mallinfo2()
libc.free(ctypes.c_void_p(block))
after = libc.mallinfo2()
print(json.dumps(dict(
    mapped=during.hblkhd - before.hblkhd, heap=during.arena,
    heap_after_free=after.arena, size=size)))
'''


def probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, '-c', PROBE, mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_large_blocks_come_from_and_stay_in_the_heap():
    default = probe('none')
    hooked = probe('{}')
    glibc_trim = probe('{"trim_threshold": 131072}')  # glibc's default
    # glibc's defaults: an 8 MiB block is mmapped (and unmapped when freed)
    assert default['mapped'] >= default['size']
    # with the hook: from the heap, and the heap is not trimmed after free
    assert hooked['mapped'] == 0
    assert hooked['heap_after_free'] == hooked['heap']
    # the control: with glibc's trim threshold the freed top is given back
    assert glibc_trim['mapped'] == 0
    assert glibc_trim['heap_after_free'] <= glibc_trim['heap'] - \
        glibc_trim['size'] // 2


@pytest.mark.parametrize('kwargs, match', [
    (dict(mmap_threshold=64 * 2**20), 'mmap_threshold must be a whole number >= 0 and <= 33554432'),
    (dict(trim_threshold=-1), 'trim_threshold must be a whole number >= 0'),
])
def test_values_glibc_refuses_are_refused_early(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlibcMallocHook(**kwargs)
