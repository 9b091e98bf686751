"""Disk-fault runner: runs facteur under fiu-run (Debian fiu-utils, libfiu's
POSIX preload) with failure points enabled, so that write, fsync, rename
and LMDB's own I/O (pwrite, fdatasync, msync) fail with a chosen errno.

    rc, out, err = run(["-a"], cfg, points=["posix/io/sync/fsync"],
                       errno_=errno.ENOSPC, probability=0.3)

The preload intercepts calls made through the dynamic linker: facteur's own
and LMDB's and OpenSSL's system calls, but not glibc's stdio internals, so
the error message facteur prints on stderr still gets out.  A missing
fiu-run is an error (install it with contrib/deps.sh), never a skip.
"""

import atexit
import os
import shutil
import subprocess
import tempfile

import util

# Failure points by what they hit.
POINTS = {
    "write": ["posix/io/rw/write", "posix/io/rw/writev"],
    "pwrite": ["posix/io/rw/pwrite", "posix/io/rw/pwritev"],   # LMDB
    "fsync": ["posix/io/sync/fsync", "posix/io/sync/fdatasync"],
    "rename": ["posix/io/dir/rename"],
    "open": ["posix/io/oc/open"],
}


def fiu_run_path():
    p = shutil.which("fiu-run")
    if p is None:
        raise AssertionError("fiu-run not found: run contrib/deps.sh "
                             "(packages fiu-utils libfiu-dev)")
    return p


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
_extra = {}


def plain_facteur():
    """The facteur binary to run under a preload or valgrind: FACTEUR, or,
    when that is an ASan build (make SANITIZE=1) -- which crashes under
    libfiu's malloc wrappers and cannot run under valgrind -- the plain
    build, made here if needed."""
    path = util.facteur_binary()
    with open(path, "rb") as f:
        if b"__asan_init" not in f.read():
            return path
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "-s", "all",
                        "SANITIZE="], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("building the plain facteur failed:\n" + r.stderr)
    return os.path.join(ROOT, "facteur")


def extra_preload():
    """Builds fiu_extra.c (renameat2/link under posix/io/dir/rename) once
    per process into a temporary directory, removed when the process exits;
    returns the .so path."""
    if "so" not in _extra:
        d = tempfile.mkdtemp(prefix="facteur-fiu-")
        atexit.register(shutil.rmtree, d, True)
        so = os.path.join(d, "fiu_extra.so")
        r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", so,
                            os.path.join(HERE, "fiu_extra.c"), "-lfiu", "-ldl"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("building fiu_extra.so failed (libfiu-dev "
                                 "missing? run contrib/deps.sh):\n" + r.stderr)
        _extra["so"] = so
    return _extra["so"]


def run(args, config, points, errno_, probability=1.0, timeout=120):
    """facteur -c CONFIG ARGS under fiu-run; returns (rc, stdout, stderr)."""
    cmd = [fiu_run_path(), "-x", "-f", ""]
    for name in points:
        if probability >= 1.0:
            cmd += ["-c", "enable name=%s,failnum=1,failinfo=%d"
                    % (name, errno_)]
        else:
            cmd += ["-c", "enable_random name=%s,probability=%g,failnum=1,"
                    "failinfo=%d" % (name, probability, errno_)]
    cfg = config.path if hasattr(config, "path") else config
    # fiu-run sets LD_PRELOAD itself; add ours on top from a shell.
    cmd += ["sh", "-c", 'LD_PRELOAD="$LD_PRELOAD $0" exec "$@"',
            extra_preload(), plain_facteur(), "-c", cfg] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    return r.returncode, r.stdout, r.stderr
