/* Secrets a session has sent (passwords, tokens, SASL responses), kept so
 * that nothing the server sends back is ever shown with them in it: a
 * careless or hostile server may quote the credentials it refused, in the
 * -D trace or in the text of an error.  Owns copies, wiped when freed. */
#ifndef FACTEUR_REDACT_H
#define FACTEUR_REDACT_H

#include <stddef.h>

#define REDACT_MAX 16

struct redact {
	char *s[REDACT_MAX];
	size_t n;
};

/* Remembers s[0..n) (ignored when shorter than 4 bytes); the oldest goes
 * when full. */
void redact_add(struct redact *r, const char *s, size_t n);
/* Remembers a command line sent as secret: the whole line and each of its
 * space-separated words, quotes removed. */
void redact_add_line(struct redact *r, const char *line, size_t n);
/* A copy of text with every remembered secret replaced by "<secret>";
 * the caller frees it. */
char *redact_text(const struct redact *r, const char *text);
void redact_free(struct redact *r);

#endif
