/* A local message as an APPEND body (sync/msgsrc.c): the Maildir file read
 * with its LF line ends turned into CRLF, measured first (APPEND announces
 * the size) and fingerprinted on the way.  Owns its descriptor and its
 * hash state; one source is reused from message to message. */
#ifndef FACTEUR_MSGSRC_H
#define FACTEUR_MSGSRC_H

#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "store/maildir.h"
#include "sync/crlf.h"
#include "sync/util.h"

struct msg_src {
	int fd;              /* -1 when closed */
	struct crlf_enc enc;
	EVP_MD_CTX *sha;
	char in[32768];
	char out[2 * 32768]; /* encoded bytes not yet handed out */
	size_t off, len;
};

void msg_src_init(struct msg_src *s);
/* Opens uniq in f (closing the previous message), sets *size to its length
 * on the wire and, if fp is not NULL, fp to the SHA-256 of the file.
 * FCT_E_MSG if the message is gone. */
int msg_src_open(struct msg_src *s, struct md_folder *f, const char *uniq, uint64_t *size,
                 unsigned char fp[32], struct fct_err *err);
/* The imap_upload read callback (ctx: the msg_src). */
long msg_src_read(void *ctx, char *buf, size_t n, struct fct_err *err);
/* The open file's modification time, or 0. */
int64_t msg_src_mtime(const struct msg_src *s);
void msg_src_close(struct msg_src *s);

/* The SHA-256 of a Maildir file as stored: the content fingerprint the
 * journal keeps.  FCT_E_MSG if the message is gone. */
int msg_file_sha256(struct md_folder *f, const char *uniq, unsigned char fp[32],
                    struct fct_err *err);

#endif
