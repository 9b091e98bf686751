/* Client side of SASL mechanisms, independent of IMAP or POP3 framing: PLAIN,
 * LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256 (server signature verified),
 * XOAUTH2 and OAUTHBEARER.  The protocol layer base64-encodes and frames
 * what sasl_step() produces.  struct sasl owns copies of the credentials and
 * wipes them on free. */
#ifndef FACTEUR_SASL_H
#define FACTEUR_SASL_H

#include <stddef.h>

#include "sync/util.h"

struct sasl;

/* 1 if the mechanism name (case-insensitive) is one we implement. */
int sasl_supported(const char *mech);
/* host and port are used by OAUTHBEARER only. */
int sasl_new(struct sasl **out, const char *mech, const char *user, const char *secret,
             const char *host, int port, struct fct_err *err);
/* 1 if the mechanism sends data first (usable as SASL-IR / AUTH initial response). */
int sasl_client_first(const struct sasl *s);
/* Errors: sasl_new fails with FCT_E_CONFIG for an unknown mechanism.
 * PLAIN, SCRAM-*, XOAUTH2 and OAUTHBEARER are client-first; LOGIN and
 * CRAM-MD5 answer challenges.  For XOAUTH2/OAUTHBEARER the secret is the
 * bearer token.  SCRAM passwords are used as given (no SASLprep mapping);
 * passwords with control characters are refused.
 *
 * Given the server's decoded challenge (in/inlen; empty for the first step of
 * a client-first mechanism), produces the next response in *out (malloc'd,
 * caller frees; may be empty).  Returns 0, or -1 with err (e.g. SCRAM server
 * signature mismatch, FCT_E_AUTH). */
int sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
              unsigned char **out, size_t *outlen, struct fct_err *err);
/* After the server said OK: -1 if the mechanism has not verified the server
 * (SCRAM without a checked server signature). */
int sasl_done(struct sasl *s, struct fct_err *err);
/* Wipes the credentials and SCRAM keys (OPENSSL_cleanse) and frees. */
void sasl_free(struct sasl *s);
/* The canonical (upper-case) mechanism name, e.g. "SCRAM-SHA-256". */
const char *sasl_mech(const struct sasl *s);

/* For tests only: fixes the SCRAM client nonce (printable, no ',') used by
 * the next sasl_step() instead of a random one.  -1 if s is not SCRAM or the
 * nonce is unusable. */
int sasl_scram_set_nonce(struct sasl *s, const char *nonce);

/* Base64 (RFC 4648), for the protocol layers.  encode returns a malloc'd,
 * NUL-terminated string (caller frees).  decode accepts only canonical
 * padded base64 (length a multiple of 4, '=' only at the end, no spaces) and
 * returns -1 on anything else; on success *out is malloc'd (NUL-terminated
 * for convenience, caller frees) and *outlen its length. */
char *fct_b64_encode(const unsigned char *p, size_t n);
int fct_b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen);

#endif
