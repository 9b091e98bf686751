"""pytest fixtures for facteur's integration tests.

dovecot: one private Dovecot for the whole session (dovecot.Dovecot), stopped
    at the end even when tests fail; start-up failures raise, never skip.
user:    a fresh dovecot.User with an empty mailbox, one per test.
imap:    a logged-in imaplib.IMAP4_SSL for `user`, logged out afterwards.
pop3:    the same with poplib.POP3_SSL.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dovecot as dovecot_mod  # noqa: E402
from conftest_servers import *  # noqa: E402,F401,F403  (Cyrus, Courier)


@pytest.fixture(scope="session")
def dovecot():
    server = dovecot_mod.Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def user(dovecot):
    return dovecot.new_user()


@pytest.fixture
def imap(dovecot, user):
    conn = dovecot.imap(user)
    yield conn
    try:
        conn.logout()
    except Exception:
        pass


@pytest.fixture
def pop3(dovecot, user):
    """A logged-in poplib.POP3_SSL for `user`, closed afterwards."""
    conn = dovecot.pop3(user)
    yield conn
    try:
        conn.quit()
    except Exception:
        pass
