/* Internals of the configuration parser, shared by config.c (reading,
 * sections, validation) and config_kw.c (the keyword table and value
 * parsers).  Not for use outside sync/config*.c. */
#ifndef FACTEUR_CONFIG_P_H
#define FACTEUR_CONFIG_P_H

#include "sync/config.h"

#define CFG_LINE_MAX 4096 /* longest accepted configuration line */
#define CFG_ARGS_MAX 256  /* most arguments on one line */

/* Sections, as bits so a keyword can list where it is allowed. */
enum cfg_sect {
	SEC_GLOBAL = 1 << 0,
	SEC_IMAPACCT = 1 << 1,
	SEC_POP3ACCT = 1 << 2,
	SEC_IMAPSTORE = 1 << 3,
	SEC_MDSTORE = 1 << 4,
	SEC_POP3STORE = 1 << 5,
	SEC_CHANNEL = 1 << 6,
	SEC_GROUP = 1 << 7,
};

/* Mailbox operations (Create, Remove, Expunge, ExpungeSolo) as bits. */
enum { BOX_CREATE = 1, BOX_REMOVE = 2, BOX_EXPUNGE = 4, BOX_SOLO = 8 };

/* What Sync/Create/... lines said, before merging (mbsync's rules). */
struct cfg_ops {
	unsigned dirs;      /* 1 pull, 2 push: bare Pull/Push/All */
	unsigned types;     /* bare New/ReNew/Delete/Flags */
	unsigned pull, push;/* compound PullNew, PushFlags, ... */
	int have_sync;
	int sync_line;
	unsigned box_have;  /* BOX_* written */
	unsigned box_both, box_far, box_near;
};

/* Channel options that may also be given globally. */
struct cfg_chanopts {
	struct cfg_ops ops;
	uint32_t max_messages;
	int expire_unread;
	int expire_far;
	int copy_arrival_date;
	char *sync_state;
};

struct cfg_parser {
	struct fct_config *c;
	const char *file;   /* c->path */
	int line;
	const struct fct_log *log;
	struct fct_err *err;
	struct fct_buf warn;       /* unimplemented keywords, reported once */
	unsigned sect;             /* current SEC_*, SEC_GLOBAL outside sections */
	int seen_section;          /* globals may not follow sections */
	struct cfg_account *acct;  /* IMAPAccount/POP3Account being read, or inline */
	struct cfg_store *store;
	struct cfg_channel *chan;
	struct cfg_group *group;
	int store_named_acct;      /* IMAPStore/POP3Store had "Account" */
	int acct_pending;          /* acct is an inline account not yet in c->accounts */
	struct cfg_chanopts glob, cur;
	uint64_t chan_max_size;
};

/* One tokenized line: argv[0] is the keyword. */
struct cfg_line {
	int argc;
	char *argv[CFG_ARGS_MAX];
};

/* Applies one keyword line in the current section (config_kw.c). */
int cfg_kw_apply(struct cfg_parser *p, const struct cfg_line *l);

/* Section transitions and validation (config.c). */
int cfg_begin_section(struct cfg_parser *p, unsigned sect, const struct cfg_line *l);
int cfg_end_section(struct cfg_parser *p);

/* Error "FILE:LINE: msg" (FCT_E_CONFIG), returns -1. */
int cfg_perr(struct cfg_parser *p, const char *fmt, ...) FCT_PRINTF(2, 3);

/* ~ and ~user expansion; NULL with an error if the user is unknown. */
char *cfg_expand_path(struct cfg_parser *p, const char *s);

/* Lookups used while parsing. */
struct cfg_account *cfg_find_account(const struct fct_config *c, const char *name);

/* A new account with mbsync's defaults, owned by the caller. */
struct cfg_account *cfg_account_new(const char *name, int is_pop3, const char *file, int line);
void cfg_account_free(struct cfg_account *a);

void cfg_strv_push(char ***v, const char *s);
void cfg_strv_free(char **v);

#endif
