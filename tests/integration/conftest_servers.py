"""Fixtures for the servers other than Dovecot (imported by conftest.py).

cyrus_slash, cyrus_dot, courier: one private server each for the session
    (servers/cyrus.py, servers/courier.py), started on first use and stopped
    at the end even when tests fail.  A server that cannot be started makes
    every test using it fail with its log tail -- never a skip.
server: parametrized over every server ("dovecot", "cyrus-slash",
    "cyrus-dot", "courier"); the same scenario runs against each.
ns: the server's personal namespace as a Namespace(prefix, sep), and
    far_name(server, "a/b") the server-side name of local folder "a/b".
"""

import collections

import pytest

from servers import courier as courier_mod
from servers import cyrus as cyrus_mod

# What conftest.py's star import brings in: the fixtures only.
__all__ = ["cyrus_slash", "cyrus_dot", "courier", "server"]

SERVER_NAMES = ("dovecot", "cyrus-slash", "cyrus-dot", "courier")

Namespace = collections.namedtuple("Namespace", "prefix sep")


def namespace(server):
    """Personal namespace prefix and separator of a running server (Dovecot
    as configured by dovecot.py: "" and "/")."""
    return Namespace(getattr(server, "prefix", ""), getattr(server, "sep", "/"))


def far_name(server, folder):
    """The server's name for the local folder `folder` ("/"-separated)."""
    if folder.upper() == "INBOX":
        return "INBOX"
    ns = namespace(server)
    return ns.prefix + folder.replace("/", ns.sep)


def local_name(server, name):
    """The inverse of far_name: a server folder name -> local name."""
    if name.upper() == "INBOX":
        return "INBOX"
    ns = namespace(server)
    if ns.prefix and name.startswith(ns.prefix):
        name = name[len(ns.prefix):]
    return name.replace(ns.sep, "/")


def _session_server(make):
    server = make()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def cyrus_slash():
    yield from _session_server(lambda: cyrus_mod.Cyrus(sep="/"))


@pytest.fixture(scope="session")
def cyrus_dot():
    yield from _session_server(lambda: cyrus_mod.Cyrus(sep="."))


@pytest.fixture(scope="session")
def courier():
    yield from _session_server(courier_mod.Courier)


@pytest.fixture(params=SERVER_NAMES)
def server(request):
    return request.getfixturevalue(request.param.replace("-", "_"))
