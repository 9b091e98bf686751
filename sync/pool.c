#include "sync/pool.h"

#include <stdlib.h>
#include <string.h>

#include "sync/util.h"

#define POOL_BLK_SIZE (256u << 10)

struct pool_blk {
	struct pool_blk *next;
	size_t used, cap;
	char data[];
};

char *pool_alloc(struct pool *p, size_t n)
{
	struct pool_blk *b = p->head;
	char *out;

	if (!b || b->cap - b->used < n) {
		size_t cap = n > POOL_BLK_SIZE ? n : POOL_BLK_SIZE;

		b = fct_xmalloc(sizeof *b + cap);
		b->used = 0;
		b->cap = cap;
		b->next = p->head;
		p->head = b;
	}
	out = b->data + b->used;
	b->used += n;
	return out;
}

char *pool_dupn(struct pool *p, const char *s, size_t n)
{
	char *out = pool_alloc(p, n + 1);

	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

const char *pool_dup(struct pool *p, const char *s)
{
	return s ? pool_dupn(p, s, strlen(s)) : NULL;
}

void pool_free(struct pool *p)
{
	struct pool_blk *b = p->head;

	while (b) {
		struct pool_blk *next = b->next;

		free(b);
		b = next;
	}
	p->head = NULL;
}
