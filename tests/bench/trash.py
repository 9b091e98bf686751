"""Where the bench puts the mail and state a measured run leaves behind.

Removing them at once would tax the next run.  On ext4 without a journal
(the file system some virtual machines give), inode allocation skips inodes
freed in the last 60 seconds, or the last 360 while their inode table
block is dirty, and reads the inode table to tell them apart.  Creating
files dirties those blocks again, so a sync does not shorten the wait: in
practice inodes freed in the last six minutes are skipped.  A loop writing
20,000 files (write, syncfs per 256, rename) took 3.3 to 11 s within a
few minutes of removing as many, half of its CPU time in that search (the
kernel's recently_deleted()), and 1.4 to 1.8 s when nothing had been
removed for 400 s.  Every tool paid it; none of it is theirs.

So directories are moved aside (a rename costs nothing) and removed only
when free space runs short or the bench ends, and before the next measured
run ready() waits until what was removed is six minutes old.
"""

import os
import shutil
import sys
import time

# Inodes freed this recently are skipped by ext4's allocator while their
# inode table block is dirty (seconds; the kernel's RECENTCY_MIN +
# RECENTCY_DIRTY).
RECENT = 361
# Removing starts when free space falls below this many bytes.
LOW_SPACE = 8 << 30

_dir = None
_count = [0]
_emptied_at = [0.0]
_patient = [True]


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


def setup(work, settle=True):
    """Discarded directories go to work/trash.  settle: files removed
    before the bench started (an earlier bench, a test suite) count as just
    removed, so the first measured run waits like after empty(); without
    it (the quick mode, whose few hundred files are not worth six minutes)
    ready() never waits."""
    global _dir
    _dir = os.path.join(work, "trash")
    os.makedirs(_dir, exist_ok=True)
    _patient[0] = settle
    if settle:
        os.sync()
        _emptied_at[0] = time.monotonic()


def discard(path):
    """Moves path (a directory or file) out of the way, if it exists."""
    if not os.path.lexists(path):
        return
    if _dir is None:  # not set up (delivery.py run alone): remove at once
        _remove(path)
        return
    _count[0] += 1
    os.rename(path, os.path.join(_dir, "%d" % _count[0]))


def empty():
    """Removes everything discarded so far."""
    if _dir is None:
        return
    for name in os.listdir(_dir):
        _remove(os.path.join(_dir, name))
    os.sync()
    _emptied_at[0] = time.monotonic()


def ready():
    """Called before a measured run: makes room if space is short, and
    leaves the file system's recently freed inodes time to age."""
    if _dir is not None:
        st = os.statvfs(_dir)
        if st.f_bavail * st.f_frsize < LOW_SPACE:
            empty()
    wait = _emptied_at[0] + RECENT - time.monotonic()
    if wait > 0 and _patient[0]:
        if wait > 10:
            print("bench: waiting %.0f s for freed inodes to age (trash.py)"
                  % wait, file=sys.stderr, flush=True)
        time.sleep(wait)
