"""Private IMAP/POP3 servers other than Dovecot for the interoperability
tests: cyrus.Cyrus and courier.Courier, shaped like dovecot.Dovecot."""
