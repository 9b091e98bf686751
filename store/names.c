/* Folder name <-> path mapping; see names.h for the rules. */
#include "store/names.h"

#include "sync/boxes.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char hexdig[] = "0123456789ABCDEF";

int md_name_is_inbox(const char *name)
{
	return name && strcasecmp(name, "INBOX") == 0;
}

/* Is the first component of name (up to '/' or end) "INBOX" in any case? */
static int first_is_inbox(const char *name)
{
	return strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/');
}

const char *md_names_inbox_alias(const struct md_names *n)
{
	return box_inbox_alias(n->map_inbox);
}

const char *md_name_unmap(const struct md_names *n, const char *name)
{
	return box_unmap_inbox(n->map_inbox, name);
}

static int reserved_comp(const char *c, size_t n)
{
	return n == 3 && (!memcmp(c, "cur", 3) || !memcmp(c, "new", 3) || !memcmp(c, "tmp", 3));
}

static void put_esc(struct fct_buf *out, unsigned char ch)
{
	char e[3] = { '%', hexdig[ch >> 4], hexdig[ch & 15] };

	fct_buf_append(out, e, 3);
}

/* Appends one escaped component of length n.  sep is the byte that the
 * layout uses to join components inside one directory name (0: none);
 * reserved: escape cur/new/tmp. */
static void esc_comp(struct fct_buf *out, const char *c, size_t n, char sep, int reserved)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c[i];
		int esc = ch < 0x20 || ch == 0x7f || ch == '%' || (sep && ch == (unsigned char)sep) ||
			  (i == 0 && ch == '.') || (i == 0 && reserved && reserved_comp(c, n));
		if (esc)
			put_esc(out, ch);
		else
			fct_buf_putc(out, (char)ch);
	}
}

static int refuse(struct fct_err *err, const char *name, const char *why)
{
	return fct_err_set(err, FCT_E_FOLDER, "folder \"%.300s\": %s", name, why);
}

/* Checks the components of name: none empty, none "." or "..". */
static int check_comps(const char *name, struct fct_err *err)
{
	const char *p = name;

	if (!*name)
		return refuse(err, name, "empty name");
	if (*name == '/')
		return refuse(err, name, "absolute name");
	if (strlen(name) > MD_NAME_MAX)
		return refuse(err, name, "name too long");
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 0)
			return refuse(err, name, "empty path component");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return refuse(err, name, "\".\" or \"..\" component");
		if (!e)
			return 0;
		p = e + 1;
	}
}

/* mbsync keeps INBOX's subfolders inside the Inbox directory when the
 * layout nests directories. */
static int inbox_nests(const struct md_names *n)
{
	return n->inbox_path && !n->flatten && n->layout != MD_LAYOUT_MAILDIRPP;
}

int md_name_to_path(const struct md_names *n, const char *name, struct fct_buf *out, struct fct_err *err)
{
	const char *p = name;
	size_t comp_start, idx = 0;
	char sep = 0;
	int one_dir = 0;

	fct_buf_reset(out);
	fct_buf_append(out, "", 0); /* out->data is a string even when empty */
	if (!name)
		return fct_err_set(err, FCT_E_FOLDER, "folder name missing");
	name = md_name_unmap(n, name);
	p = name;
	if (check_comps(name, err) < 0)
		return -1;
	if (md_name_is_inbox(name)) {
		if (n->inbox_path) {
			fct_buf_puts(out, n->inbox_path);
			return 0;
		}
		if (!n->flatten && n->layout == MD_LAYOUT_MAILDIRPP)
			return 0; /* the root itself */
	}
	/* The Maildir++ leading dot counts towards the component's length. */
	comp_start = out->len;
	if (n->flatten) {
		sep = n->flatten;
		one_dir = 1;
	} else if (n->layout == MD_LAYOUT_MAILDIRPP) {
		sep = '.';
		one_dir = 1;
		fct_buf_putc(out, '.');
	}
	if (inbox_nests(n) && first_is_inbox(name)) {
		fct_buf_puts(out, n->inbox_path);
		p = name + 6;
		idx = 1;
		comp_start = out->len;
	}
	for (;; idx++) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (idx == 0 && first_is_inbox(p))
			p = "INBOX";
		if (idx > 0) {
			if (one_dir) {
				fct_buf_putc(out, sep);
			} else {
				fct_buf_putc(out, '/');
				comp_start = out->len;
				if (n->layout == MD_LAYOUT_LEGACY)
					fct_buf_putc(out, '.');
			}
		}
		esc_comp(out, p, len, sep, n->flatten || n->layout != MD_LAYOUT_MAILDIRPP);
		if (out->len - comp_start > MD_NAME_COMPONENT_MAX) {
			fct_buf_reset(out);
			return refuse(err, name, "path component too long");
		}
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

int md_name_to_path_n(const struct md_names *n, const char *name, size_t len, struct fct_buf *out,
		      struct fct_err *err)
{
	char *copy;
	int rc;

	if (memchr(name, '\0', len)) {
		fct_buf_reset(out);
		return fct_err_set(err, FCT_E_FOLDER, "folder \"%.*s\": NUL in name", (int)(len > 300 ? 300 : len),
				   name);
	}
	copy = fct_xstrndup(name, len);
	rc = md_name_to_path(n, copy, out, err);
	free(copy);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Unescapes c[0..n) onto out; -1 on a bad escape. */
static int unesc(struct fct_buf *out, const char *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (c[i] != '%') {
			fct_buf_putc(out, c[i]);
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int hi = hexval(c[i + 1]), lo = hexval(c[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		fct_buf_putc(out, (char)(hi << 4 | lo));
		i += 2;
	}
	return 0;
}

/* Splits s at sep into components, unescaping each; legacy 1: components
 * after the first must start with '.', which is dropped; legacy 2: all. */
static int decode_comps(struct fct_buf *out, const char *s, char sep, int legacy)
{
	const char *p = s;
	size_t idx = 0;

	for (;; idx++) {
		const char *e = strchr(p, sep);
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (legacy && (idx > 0 || legacy == 2)) {
			if (len < 2 || p[0] != '.')
				return -1;
			p++;
			len--;
		}
		if (len == 0)
			return -1;
		if (idx > 0)
			fct_buf_putc(out, '/');
		if (unesc(out, p, len) < 0)
			return -1;
		if (!e)
			return 0;
		p = e + 1;
	}
}

int md_path_to_name(const struct md_names *n, const char *relpath, struct fct_buf *out, struct fct_err *err)
{
	struct fct_buf check;
	int rc;

	fct_buf_reset(out);
	fct_buf_append(out, "", 0);
	if (n->inbox_path && strcmp(relpath, n->inbox_path) == 0) {
		fct_buf_puts(out, "INBOX");
		return 0;
	}
	size_t il = n->inbox_path ? strlen(n->inbox_path) : 0;
	if (inbox_nests(n) && strncmp(relpath, n->inbox_path, il) == 0 && relpath[il] == '/') {
		fct_buf_puts(out, "INBOX/");
		rc = decode_comps(out, relpath + il + 1, '/', n->layout == MD_LAYOUT_LEGACY ? 2 : 0);
	} else if (n->flatten) {
		rc = strchr(relpath, '/') ? -1 : decode_comps(out, relpath, n->flatten, 0);
	} else if (n->layout == MD_LAYOUT_MAILDIRPP) {
		if (!*relpath || strcmp(relpath, ".") == 0) {
			if (n->inbox_path)
				return fct_err_set(err, FCT_E_FOLDER, "path \"%.300s\": not a folder", relpath);
			fct_buf_puts(out, "INBOX");
			return 0;
		}
		rc = (relpath[0] != '.' || strchr(relpath, '/')) ? -1 : decode_comps(out, relpath + 1, '.', 0);
	} else {
		rc = decode_comps(out, relpath, '/', n->layout == MD_LAYOUT_LEGACY);
	}
	if (rc == 0) {
		/* Only canonical paths name a folder: the mapping stays one-to-one. */
		struct fct_err e2;

		fct_buf_init(&check);
		rc = md_name_to_path(n, out->data, &check, &e2);
		if (rc == 0 && strcmp(check.data ? check.data : "", relpath) != 0)
			rc = -1;
		fct_buf_free(&check);
	}
	if (rc < 0) {
		fct_buf_reset(out);
		return fct_err_set(err, FCT_E_FOLDER, "path \"%.300s\": not a folder name", relpath);
	}
	return 0;
}
