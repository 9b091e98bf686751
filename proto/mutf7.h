/* Modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8, for IMAP mailbox names. */
#ifndef FACTEUR_MUTF7_H
#define FACTEUR_MUTF7_H

#include <stddef.h>

#include "sync/util.h"

/* Return 0, or -1 on malformed input (out is then unspecified). */
int mutf7_to_utf8(const char *in, size_t n, struct fct_buf *out);
int utf8_to_mutf7(const char *in, size_t n, struct fct_buf *out);

#endif
