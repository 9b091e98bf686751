/* A scripted line-protocol server for unit tests (IMAP, POP3): it runs in a
 * thread on one end of a socketpair and follows a script, recording every
 * byte the client sent so tests can assert on it (e.g. that no password
 * ever left before TLS).
 *
 * Script: NULL-terminated array of steps:
 *   "C:text"   the next client line (CRLF removed) must equal text; a text
 *              ending in '*' matches any line starting with the rest
 *   "S:text"   send text followed by CRLF
 *   "W:text"   send text exactly (no CRLF added)
 *   "R:n"      read n raw bytes (a literal) from the client
 *   "N:ms"     wait ms milliseconds: the client must send nothing meanwhile
 *              beyond what earlier steps consumed (checks pipelining depth)
 *   "T:"       TLS handshake as the server (self-signed certificate for
 *              localhost: clients must not verify); everything after is
 *              encrypted
 *   "Z:"       raw DEFLATE (RFC 4978) both ways from now on
 *   "E:"       close the connection now
 * A mismatch stops the script and half-closes the socket (the client sees
 * end of stream).  After the script the server reads until the client
 * closes.  Every read waits at most 10 seconds. */
#ifndef FACTEUR_TEST_FAKESERVER_H
#define FACTEUR_TEST_FAKESERVER_H

#include <stddef.h>

struct fake_server;

/* Starts the server; *client_fd is the client's end of the socketpair
 * (the caller owns it, e.g. hands it to xport_from_fds).  0 or -1. */
int fake_server_start(struct fake_server **out, const char *const *script, int *client_fd);
/* Waits for the server to finish (the client must close its end first).
 * Returns 0 if the script ran to its end, else -1 with why filled. */
int fake_server_finish(struct fake_server *fs, char *why, size_t whylen);
/* Everything the client sent, NUL-terminated; valid until free. */
const char *fake_server_received(const struct fake_server *fs, size_t *len);
/* How many of the received bytes arrived before TLS started (all of them
 * without a "T:" step). */
size_t fake_server_tls_offset(const struct fake_server *fs);
void fake_server_free(struct fake_server *fs);

#endif
