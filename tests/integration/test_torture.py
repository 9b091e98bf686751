"""Crash torture, short variant (the long one: `make torture TRIALS=500`).

Random changes on both sides, a sync killed with SIGKILL at a random moment,
a rerun to completion, then: every message exactly once on each side, flags
and folders agree, nothing the user did not delete is gone (see
tests/torture/torture.py for the trial itself).  The seeds are fixed so a
failure in CI reproduces with `tests/torture/torture.py --seed N`.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "torture"))

import torture  # noqa: E402


@pytest.mark.parametrize("seed", [11, 12])
def test_imap_crash_torture(dovecot, tmp_path, seed):
    # 2 x 12 trials: >= 20 killed-and-rerun syncs per CI run.
    killed = torture.imap_trials(dovecot, tmp_path, 12, seed, log=print)
    # The delays must mostly land inside a run, or the test proves little.
    assert killed >= 6


def test_pop3_crash_torture(dovecot, tmp_path):
    killed = torture.pop3_trials(dovecot, tmp_path, 8, 21, log=print)
    assert killed >= 2
