#include "sync/pattern.h"

#include <string.h>
#include <strings.h>

int box_wildmatch(const char *pat, const char *name)
{
	/* Iterative matcher with one backtrack point per wildcard kind is not
	 * enough for '%' mixed with '*', so recurse; patterns are short and
	 * recursion depth is bounded by the pattern length. */
	for (; *pat; pat++, name++) {
		if (*pat == '*' || *pat == '%') {
			const char *p = name;

			for (;;) {
				if (box_wildmatch(pat + 1, p))
					return 1;
				if (!*p || (*pat == '%' && *p == '/'))
					return 0;
				p++;
			}
		}
		if (*pat != *name)
			return 0;
	}
	return *name == '\0';
}

static int inbox_match(const char *pat, const char *name)
{
	/* "INBOX" and "INBOX/sub": the INBOX part is case-insensitive. */
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/') &&
	    strncasecmp(pat, "INBOX", 5) == 0) {
		return box_wildmatch(pat + 5, name + 5);
	}
	return 0;
}

int box_selected(const char *const *patterns, const char *name)
{
	int selected = 0;

	if (!patterns)
		return strcasecmp(name, "INBOX") == 0;
	for (; *patterns; patterns++) {
		const char *p = *patterns;
		int neg = (*p == '!');

		if (neg)
			p++;
		if (box_wildmatch(p, name) || inbox_match(p, name))
			selected = !neg;
	}
	return selected;
}

int box_wanted(const char *const *boxes, const char *name)
{
	if (!boxes)
		return 1;
	for (; *boxes; boxes++)
		if (strcmp(*boxes, name) == 0 ||
		    (strcasecmp(*boxes, "INBOX") == 0 && strcasecmp(name, "INBOX") == 0))
			return 1;
	return 0;
}
