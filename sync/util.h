/* Common ground for every module: error values, an explicit logging context,
 * a growable byte buffer, and the message flag set shared by IMAP, Maildir,
 * the journal and the planner.  Owns nothing global: callers pass contexts. */
#ifndef FACTEUR_UTIL_H
#define FACTEUR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FCT_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Error kinds: what failed, so a caller can decide how far the failure
 * reaches (one message, one folder, the whole store / connection). */
enum fct_err_kind {
	FCT_E_NONE = 0,
	FCT_E_MSG,      /* one message is bad; the rest can go on */
	FCT_E_FOLDER,   /* one folder is bad */
	FCT_E_STORE,    /* the store (server, Maildir root) is unusable */
	FCT_E_PROTO,    /* the peer broke the protocol */
	FCT_E_IO,       /* local or network I/O failed */
	FCT_E_AUTH,     /* authentication refused */
	FCT_E_TLS,      /* TLS or certificate failure */
	FCT_E_CONFIG,   /* configuration is wrong */
	FCT_E_TIMEOUT,  /* the peer did not answer in time */
	FCT_E_CANCEL,   /* stopped on request */
};

#define FCT_ERR_MAX 768

/* An error value.  Functions return 0 on success and -1 on failure, filling
 * the caller's struct fct_err with a one-line, human-readable message. */
struct fct_err {
	enum fct_err_kind kind;
	int temporary; /* 1 if retrying later may succeed (network, timeouts) */
	char msg[FCT_ERR_MAX];
};

void fct_err_clear(struct fct_err *e);
/* Sets kind and message; always returns -1 so callers can `return fct_err_set(...)`. */
int fct_err_set(struct fct_err *e, enum fct_err_kind kind, const char *fmt, ...) FCT_PRINTF(3, 4);
/* Same, with ": strerror(errnum)" appended. */
int fct_err_sys(struct fct_err *e, int errnum, const char *fmt, ...) FCT_PRINTF(3, 4);
/* Prepends "context: " to an existing message (e.g. the folder name). */
void fct_err_prefix(struct fct_err *e, const char *fmt, ...) FCT_PRINTF(2, 3);

/* Logging context, passed explicitly.  level: 0 quiet (errors only),
 * 1 normal, 2 verbose.  debug: protocol exchange (-D). */
struct fct_log {
	int level;
	int debug;
	FILE *fp; /* NULL means stderr */
};

void fct_log_error(const struct fct_log *l, const char *fmt, ...) FCT_PRINTF(2, 3);
void fct_log_warn(const struct fct_log *l, const char *fmt, ...) FCT_PRINTF(2, 3);
void fct_log_info(const struct fct_log *l, const char *fmt, ...) FCT_PRINTF(2, 3);
void fct_log_verbose(const struct fct_log *l, const char *fmt, ...) FCT_PRINTF(2, 3);
void fct_log_debug(const struct fct_log *l, const char *fmt, ...) FCT_PRINTF(2, 3);

/* Allocation that cannot fail: out of memory aborts with a message, as no
 * caller could do anything better. */
/* Allocation failure, here or in a library: a message, then abort(). */
void fct_oom(void) __attribute__((noreturn));
void *fct_xmalloc(size_t n);
void *fct_xcalloc(size_t n, size_t size);
void *fct_xrealloc(void *p, size_t n);
char *fct_xstrdup(const char *s);
char *fct_xstrndup(const char *s, size_t n);
char *fct_xasprintf(const char *fmt, ...) FCT_PRINTF(1, 2);

/* Growable byte buffer, always NUL-terminated after len. */
struct fct_buf {
	char *data;
	size_t len;
	size_t cap;
};

void fct_buf_init(struct fct_buf *b);
void fct_buf_free(struct fct_buf *b);
void fct_buf_reset(struct fct_buf *b);
void fct_buf_append(struct fct_buf *b, const void *p, size_t n);
void fct_buf_puts(struct fct_buf *b, const char *s);
void fct_buf_putc(struct fct_buf *b, char c);
void fct_buf_printf(struct fct_buf *b, const char *fmt, ...) FCT_PRINTF(2, 3);
void fct_buf_vprintf(struct fct_buf *b, const char *fmt, va_list ap) FCT_PRINTF(2, 0);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *fct_buf_steal(struct fct_buf *b);

/* Message flags, one bit each.  Maildir letters in brackets. */
enum fct_flag {
	FCT_F_DRAFT = 1 << 0,     /* \Draft     [D] */
	FCT_F_FLAGGED = 1 << 1,   /* \Flagged   [F] */
	FCT_F_FORWARDED = 1 << 2, /* $Forwarded [P] */
	FCT_F_ANSWERED = 1 << 3,  /* \Answered  [R] */
	FCT_F_SEEN = 1 << 4,      /* \Seen      [S] */
	FCT_F_DELETED = 1 << 5,   /* \Deleted   [T] */
};
#define FCT_F_ALL 0x3fu

/* Maildir info letters for a flag set, in ASCII order; out needs 7 bytes. */
void fct_flags_to_letters(unsigned flags, char out[7]);
/* Parses Maildir letters; unknown letters are ignored (kept by the caller). */
unsigned fct_flags_from_letters(const char *s, size_t n);
/* IMAP flag list "\Seen \Flagged" (space separated) for a set; out >= 64 bytes. */
void fct_flags_to_imap(unsigned flags, char *out, size_t outsz);
/* One IMAP flag atom (case-insensitive) to its bit, 0 if not one of ours. */
unsigned fct_flag_from_imap(const char *atom, size_t n);

/* mkdir -p with mode 0700 for directories it creates. */
int fct_mkdir_p(const char *path, struct fct_err *err);

/* Monotonic milliseconds, for timeouts and rates. */
int64_t fct_now_ms(void);

#endif
