/* A string pool: owns copies of strings that listings point to, packed
 * into large blocks freed together.  A listing holds a name or two per
 * message, up to 100,000 of them: a malloc'd copy each would cost a chunk
 * header and rounding, near a third of their size. */
#ifndef FACTEUR_POOL_H
#define FACTEUR_POOL_H

#include <stddef.h>

struct pool_blk;

struct pool {
	struct pool_blk *head; /* the block being filled; NULL when empty */
};

/* A copy of s owned by the pool (NULL for NULL). */
const char *pool_dup(struct pool *p, const char *s);
/* n bytes owned by the pool, for the caller to fill (no alignment). */
char *pool_alloc(struct pool *p, size_t n);
/* A copy of s[0..n) plus a NUL, owned by the pool. */
char *pool_dupn(struct pool *p, const char *s, size_t n);
/* Frees every copy; the pool is empty and usable again. */
void pool_free(struct pool *p);

#endif
