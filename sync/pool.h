/* A string pool: owns copies of strings that listings point to, so the
 * listings can be sorted and copied freely and freed in one go. */
#ifndef FACTEUR_POOL_H
#define FACTEUR_POOL_H

#include <stddef.h>

struct pool {
	char **v;
	size_t n, cap;
};

/* A copy of s owned by the pool (NULL for NULL). */
const char *pool_dup(struct pool *p, const char *s);
void pool_free(struct pool *p);

#endif
