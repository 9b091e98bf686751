/* Modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8, for IMAP mailbox names. */
#ifndef FACTEUR_MUTF7_H
#define FACTEUR_MUTF7_H

#include <stddef.h>

#include "sync/util.h"

/* Both append to out (they do not reset it).  They return 0, or -1 on
 * malformed input (out is then unspecified): for mutf7_to_utf8 a character
 * outside printable ASCII, bad or non-minimal modified base64, an
 * unterminated shift, unpaired surrogates or U+0000; for utf8_to_mutf7
 * invalid UTF-8 (overlong, surrogates, truncated, > U+10FFFF) or NUL. */
int mutf7_to_utf8(const char *in, size_t n, struct fct_buf *out);
int utf8_to_mutf7(const char *in, size_t n, struct fct_buf *out);

#endif
