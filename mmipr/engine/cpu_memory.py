"""``GlibcMallocHook``: keep freed tensor memory in the process on Linux CPUs.

A CPU training iteration allocates and frees the same large activation and
gradient buffers every time. glibc serves a block above its mmap threshold
with ``mmap`` and returns it with ``munmap``, and trims free memory at the
top of the heap, so every iteration page-faults its buffers in anew, in
kernel time. PyTorch's performance guides swap in jemalloc or tcmalloc for
this; raising glibc's two thresholds with ``mallopt(3)`` gets the same
effect without a preloaded library (measured on the synthetic learnability
config: docs/synthetic_data.md).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS

from mmipr.utils.validation import check_number

M_TRIM_THRESHOLD = -1  # mallopt(3) parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MAX_MMAP_THRESHOLD = 32 * 2**20  # glibc's cap on 64-bit systems
INT_MAX = 2**31 - 1


@HOOKS.register_module()
class GlibcMallocHook(Hook):
    """Raise glibc's mmap and trim thresholds before the run, so that memory
    freed by one iteration is reused by the next instead of going back to
    the kernel.

    The process keeps the heap of its largest iteration. Blocks of at least
    ``mmap_threshold`` bytes are still mapped and unmapped one by one. Where
    the C library is not glibc (macOS, musl), the hook logs a warning and
    changes nothing. Use it as ``custom_hooks = [dict(type='GlibcMallocHook')]``.

    Args:
        mmap_threshold (int): ``M_MMAP_THRESHOLD`` in bytes, at most 32 MiB
            (glibc's limit). Defaults to 32 MiB.
        trim_threshold (int): ``M_TRIM_THRESHOLD`` in bytes, at most
            2**31 - 1. Defaults to 2**31 - 1 (never trim).
    """

    priority = 'VERY_HIGH'

    def __init__(self, mmap_threshold: int = MAX_MMAP_THRESHOLD,
                 trim_threshold: int = INT_MAX) -> None:
        check_number('GlibcMallocHook', 'mmap_threshold', mmap_threshold,
                     integer=True, low=0, high=MAX_MMAP_THRESHOLD,
                     hint='bytes; glibc refuses more than 32 MiB')
        check_number('GlibcMallocHook', 'trim_threshold', trim_threshold,
                     integer=True, low=0, high=INT_MAX,
                     hint="bytes; mallopt takes a C int")
        self.mmap_threshold = mmap_threshold
        self.trim_threshold = trim_threshold

    def before_run(self, runner=None) -> None:
        """Set the thresholds with ``mallopt``.

        Args:
            runner (Runner, optional): unused; the setting is per process
                (dataloader workers forked later inherit it).
        """
        if platform.libc_ver()[0] != 'glibc':
            print_log('GlibcMallocHook: the C library is not glibc; malloc '
                      'settings left unchanged', logger='current',
                      level=logging.WARNING)
            return
        libc = ctypes.CDLL(ctypes.util.find_library('c'))
        for param, value in ((M_MMAP_THRESHOLD, self.mmap_threshold),
                             (M_TRIM_THRESHOLD, self.trim_threshold)):
            if libc.mallopt(param, ctypes.c_int(value)) != 1:
                raise RuntimeError(f'mallopt({param}, {value}) failed')
