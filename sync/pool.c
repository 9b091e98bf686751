#include "sync/pool.h"

#include <stdlib.h>
#include <string.h>

#include "sync/util.h"

const char *pool_dup(struct pool *p, const char *s)
{
	if (!s)
		return NULL;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->v = fct_xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n] = fct_xstrdup(s);
	return p->v[p->n++];
}

void pool_free(struct pool *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof *p);
}
