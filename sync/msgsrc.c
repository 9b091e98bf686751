/* Local messages as APPEND bodies, shared by uploads (sync/exec.c) and the
 * far Trash's copies (sync/trash.c), and their content fingerprints (also
 * for moves and POP3 recovery). */
#include "sync/msgsrc.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void msg_src_init(struct msg_src *s)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	if (!(s->sha = EVP_MD_CTX_new()))
		fct_oom();
}

int msg_src_open(struct msg_src *s, struct md_folder *f, const char *uniq, uint64_t *size,
                 unsigned char fp[32], struct fct_err *err)
{
	uint64_t fsize, total = 0;
	ssize_t got;

	if (s->fd >= 0) /* the previous body is on the wire */
		close(s->fd);
	s->fd = -1;
	s->off = s->len = 0;
	memset(&s->enc, 0, sizeof s->enc);
	if (md_open_msg(f, uniq, &s->fd, &fsize, err) < 0) {
		s->fd = -1;
		return -1;
	}
	EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL);
	while ((got = read(s->fd, s->in, sizeof s->in)) > 0) {
		total += crlf_enc_size(&s->enc, s->in, (size_t)got);
		EVP_DigestUpdate(s->sha, s->in, (size_t)got);
	}
	memset(&s->enc, 0, sizeof s->enc);
	if (got < 0 || lseek(s->fd, 0, SEEK_SET) < 0) {
		fct_err_sys(err, errno, "reading message %s", uniq);
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	if (fp)
		EVP_DigestFinal_ex(s->sha, fp, NULL);
	*size = total;
	return 0;
}

long msg_src_read(void *ctx, char *buf, size_t n, struct fct_err *err)
{
	struct msg_src *s = ctx;

	if (s->off == s->len) {
		ssize_t got = read(s->fd, s->in, sizeof s->in);

		if (got < 0)
			return fct_err_sys(err, errno, "reading message");
		s->off = 0;
		s->len = crlf_enc_step(&s->enc, s->in, (size_t)got, s->out);
	}
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->out + s->off, n);
	s->off += n;
	return (long)n;
}

int64_t msg_src_mtime(const struct msg_src *s)
{
	struct stat st;

	return s->fd >= 0 && fstat(s->fd, &st) == 0 ? (int64_t)st.st_mtime : 0;
}

void msg_src_close(struct msg_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	EVP_MD_CTX_free(s->sha);
	s->sha = NULL;
}

int msg_file_sha256(struct md_folder *f, const char *uniq, unsigned char fp[32],
                    struct fct_err *err)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	char buf[65536];
	uint64_t size;
	ssize_t got;
	int fd, rc = 0;

	if (!sha)
		fct_oom();
	if (md_open_msg(f, uniq, &fd, &size, err) < 0) {
		EVP_MD_CTX_free(sha);
		return -1;
	}
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	while ((got = read(fd, buf, sizeof buf)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = fct_err_sys(err, errno, "reading message %s", uniq);
			break;
		}
		EVP_DigestUpdate(sha, buf, (size_t)got);
	}
	close(fd);
	if (rc == 0)
		EVP_DigestFinal_ex(sha, fp, NULL);
	EVP_MD_CTX_free(sha);
	return rc;
}
