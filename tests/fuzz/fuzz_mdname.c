/* libFuzzer target: Maildir names (store/names.c, store/maildir.c).
 *
 * - md_parse_name on a file base name: the uniq part lies inside the name;
 * - folder name <-> relative path in every layout: a path produced for a
 *   folder never escapes the store root (no "..", "." component, leading
 *   '/', NUL or empty component) and maps back to the same folder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/maildir.h"
#include "store/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_safe(const char *path, size_t len)
{
	const char *p = path, *end = path + len;

	if (len == 0 || path[0] == '/' || memchr(path, '\0', len))
		__builtin_trap();
	while (p <= end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (n == 0 || n > MD_NAME_COMPONENT_MAX)
			__builtin_trap();
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			__builtin_trap();
		if (!slash)
			break;
		p = slash + 1;
	}
}

/* Folder names are equal, except that a leading "INBOX" component is
 * case-insensitive (RFC 3501) and comes back normalised. */
static int same_folder(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b), skip = 0;

	if (alen != blen)
		return 0;
	if (blen >= 5 && strncasecmp(a, "INBOX", 5) == 0 && strncasecmp(b, "INBOX", 5) == 0 &&
	    (blen == 5 || b[5] == '/'))
		skip = 5;
	return memcmp(a + skip, b + skip, blen - skip) == 0;
}

static void roundtrip(const struct md_names *nm, const char *name)
{
	struct fct_buf path, back;
	struct fct_err err;

	fct_buf_init(&path);
	fct_buf_init(&back);
	if (md_name_to_path(nm, name, &path, &err) == 0 && !md_name_is_inbox(name)) {
		check_safe(path.data, path.len);
		if (md_path_to_name(nm, path.data, &back, &err) != 0)
			__builtin_trap(); /* what we wrote, we must be able to read */
		/* Flattened names are not reversible when the name holds the
		 * flatten character itself; every other mapping is. */
		if (!nm->flatten && !same_folder(back.data, back.len, name))
			__builtin_trap();
	}
	/* Any directory name found on disk either maps to a folder or is refused. */
	(void)md_path_to_name(nm, name, &back, &err);
	fct_buf_free(&path);
	fct_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t ulen = 0;
	unsigned flags = 0;
	uint64_t msize = 0;
	int has_size = 0;
	static const struct md_names layouts[] = {
		{MD_LAYOUT_VERBATIM, 0, NULL},
		{MD_LAYOUT_MAILDIRPP, 0, NULL},
		{MD_LAYOUT_LEGACY, 0, NULL},
		{MD_LAYOUT_VERBATIM, '.', NULL},
	};

	if (size < 1 || size > MD_NAME_MAX + 16)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	md_parse_name(s, (data[0] & 1) ? '!' : ':', &ulen, &flags, &msize, &has_size);
	if (ulen > strlen(s))
		__builtin_trap();
	roundtrip(&layouts[(data[0] >> 1) % 4], s);
	free(s);
	return 0;
}
