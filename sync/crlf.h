/* Line-ending conversion for message bodies in transit: IMAP speaks CRLF,
 * Maildir files hold LF.  Both converters are incremental (a CR at the end of
 * one piece is resolved by the next) and never buffer more than one byte. */
#ifndef FACTEUR_CRLF_H
#define FACTEUR_CRLF_H

#include <stddef.h>
#include <stdint.h>

/* CRLF -> LF.  A lone CR (not followed by LF) is kept as is. */
struct crlf_dec {
	int pending_cr;
};

/* Converts in[0..n) into out (which must hold n + 1 bytes); returns the
 * number of bytes written. */
size_t crlf_dec_step(struct crlf_dec *d, const char *in, size_t n, char *out);
/* End of input: returns 1 and writes a pending lone CR to out[0], else 0. */
size_t crlf_dec_end(struct crlf_dec *d, char *out);

/* LF -> CRLF.  An LF already preceded by CR is left alone, so files that
 * already hold CRLF are uploaded unchanged. */
struct crlf_enc {
	int last_cr;
};

/* Converts in[0..n) into out (which must hold 2 * n bytes). */
size_t crlf_enc_step(struct crlf_enc *e, const char *in, size_t n, char *out);
/* Size after encoding, for announcing IMAP literals before sending. */
uint64_t crlf_enc_size(struct crlf_enc *e, const char *in, size_t n);

#endif
