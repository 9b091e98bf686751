/* Mailbox selection by a channel's Patterns, with mbsync's rules: IMAP list
 * wildcards ('*' matches anything, '%' anything but the hierarchy separator
 * '/'), a leading '!' excludes, and the last matching pattern decides.
 * "INBOX" matches case-insensitively, as IMAP defines it. */
#ifndef FACTEUR_PATTERN_H
#define FACTEUR_PATTERN_H

/* 1 if name is selected by the NULL-terminated patterns, else 0. */
int box_selected(const char *const *patterns, const char *name);
/* 1 if name matches the single wildcard pattern pat. */
int box_wildmatch(const char *pat, const char *name);

/* 1 if name is among the NULL-terminated boxes named on the command line
 * (CHANNEL:BOX,...), or if boxes is NULL (no restriction). */
int box_wanted(const char *const *boxes, const char *name);

#endif
