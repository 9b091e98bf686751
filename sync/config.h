/* Configuration: parses an mbsync-compatible configuration file (plus our
 * POP3Account/POP3Store sections and a few extra keywords) into one
 * immutable struct fct_config, which the rest of the program borrows.
 * This module owns every string and array reachable from the structure;
 * cfg_free() releases all of it.  Nothing here keeps global state. */
#ifndef FACTEUR_CONFIG_H
#define FACTEUR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "sync/util.h"

/* TLSType / SSLType.  Default: IMAPS when Port is 993 (995 for POP3) or the
 * Host is written "imaps:host", STARTTLS otherwise (mbsync's default), None
 * when a Tunnel is set (as mbsync: tunnels are usually secure).  Otherwise
 * CFG_TLS_NONE only results from an explicit "TLSType None" (tls_explicit is
 * then 1), so a clear-text login over TCP is always something the user wrote. */
enum cfg_tls { CFG_TLS_IMPLICIT, CFG_TLS_STARTTLS, CFG_TLS_NONE };

/* IMAPAccount or POP3Account (or an account declared inline in an
 * IMAPStore, named after the store). */
struct cfg_account {
	char *name;
	int is_pop3;
	char *host;          /* never NULL after a successful load, unless tunnel is set */
	int port;            /* 0 = default for tls type and protocol */
	int timeout_s;       /* default 20; 0 = no timeout */
	char *user, *user_cmd, *pass, *pass_cmd; /* use cfg_get_user/cfg_get_pass */
	char *tunnel;        /* shell command whose stdin/stdout is the connection */
	char **auth_mechs;   /* NULL-terminated, upper-cased, "*" kept; NULL = any */
	enum cfg_tls tls;
	int tls_explicit;    /* 1 if TLSType/SSLType (or Host imaps:/pop3s:) was written */
	int system_certs;    /* SystemCertificates, default 1 */
	char *cert_file, *client_cert, *client_key; /* ~ expanded */
	char *tls_versions;  /* TLSVersions as written ("+1.2 -1.1 ..."), or NULL */
	char *cipher_string;
	int pipeline_depth;  /* 0 = unlimited (mbsync's default) */
	char **disabled_exts;/* NULL-terminated, upper-case, or NULL */
	int compress;        /* Compress: 1 yes, 0 no (or DisableExtension COMPRESS),
	                      * -1 auto (default: not over loopback) */
	const char *file;    /* where declared; points into fct_config.path's copy */
	int line;
	int inline_decl;     /* declared by account options inside an IMAPStore */
};

enum cfg_store_kind { CFG_STORE_IMAP, CFG_STORE_MAILDIR, CFG_STORE_POP3 };

struct cfg_store {
	char *name;
	enum cfg_store_kind kind;
	const struct cfg_account *account; /* IMAP, POP3; owned by fct_config */
	char *path;          /* Maildir: root, ~ expanded, ends in '/' if written so */
	char *inbox;         /* Maildir Inbox, ~ expanded; default ~/Maildir */
	int subfolders;      /* MD layout: 0 verbatim, 1 maildir++, 2 legacy, -1 unset */
	char info_delim;     /* Maildir InfoDelimiter, default FieldDelimiter (':') */
	char flatten;        /* Flatten delimiter, 0 = none */
	char *trash;         /* Trash folder, or NULL */
	int trash_new_only, trash_remote_new;
	uint64_t max_size;   /* bytes, 0 = unlimited */
	int use_namespace;   /* IMAP UseNamespace, default 1 */
	char path_delim;     /* IMAP PathDelimiter, 0 = server's */
	char *imap_path;     /* IMAPStore Path (prefix), or NULL */
	int subscribed_only;
	char *map_inbox;     /* IMAP MapInbox, or NULL */
	int keep;            /* POP3 Keep: leave messages on the server (default 1) */
	int delete_after_days; /* POP3 DeleteAfter N: with Keep, remove from the server
	                        * N days after download; 0 = never */
	const char *file;
	int line;
};

/* Operation sets, one per direction (pull: far -> near, push: near -> far). */
enum { CFG_OP_NEW = 1, CFG_OP_RENEW = 2, CFG_OP_DELETE = 4, CFG_OP_FLAGS = 8 };
#define CFG_MAX_PARALLEL_FOLDERS 16 /* ParallelFolders upper bound */
#define CFG_OP_ALL (CFG_OP_NEW | CFG_OP_RENEW | CFG_OP_DELETE | CFG_OP_FLAGS)

/* A Sync line (or the command line's -n/-L/-H... options) before merging:
 * bare directions (1 pull, 2 push), bare types, and compound cells such as
 * PullNew.  cfg_sync_merge applies mbsync's rule: bare words select rows and
 * columns (an empty class means all of it), unless compound cells are given,
 * in which case bare words add whole rows/columns and no cell may be
 * asserted twice (returns -1 on such a conflict).  All zero means None. */
struct cfg_sync_spec {
	unsigned dirs, types, pull, push;
};
int cfg_sync_merge(const struct cfg_sync_spec *s, unsigned *pull, unsigned *push);

struct cfg_channel {
	char *name;
	const struct cfg_store *far, *near;
	char *far_box, *near_box; /* from ":store:box"; NULL when empty */
	char **patterns;     /* NULL-terminated or NULL */
	/* Options below that mbsync allows globally take the global value when the
	 * channel does not set them (Sync, Create, Remove, Expunge, ExpungeSolo,
	 * MaxMessages, ExpireUnread, ExpireSide, CopyArrivalDate, SyncState). */
	unsigned pull, push; /* CFG_OP_* sets (default: all both ways; pull only when
	                      * the far store is POP3, which never allows push) */
	int create_far, create_near, remove_far, remove_near;   /* default 0 */
	int expunge_far, expunge_near, expunge_solo_far, expunge_solo_near;
	uint64_t max_size;   /* Channel MaxSize, bytes, 0 = unset; when set it applies to
	                      * both stores of this channel in place of their own MaxSize
	                      * (mbsync writes it into the stores; we keep them shared) */
	uint32_t max_messages; /* 0 = unlimited */
	int expire_unread;   /* -1 unset (= mbsync default), 0 no, 1 yes */
	int expire_far;      /* ExpireSide Far: MaxMessages trims the far side (default near) */
	int copy_arrival_date;
	char *sync_state;    /* NULL default, "*" beside near, else dir prefix (~ expanded) */
	char *post_sync_cmd; /* PostSyncCommand, or NULL (then the global one applies) */
	int watch;           /* Watch yes/no */
	const char *file;
	int line;
};

struct cfg_group {
	char *name;
	char **channels;     /* NULL-terminated; entries "CHAN" or "CHAN:box1,box2" */
	const char *file;
	int line;
};

struct fct_config {
	char *path;          /* the file that was read */
	struct cfg_account **accounts;
	size_t naccounts;
	struct cfg_store **stores;
	size_t nstores;
	struct cfg_channel **channels;
	size_t nchannels;
	struct cfg_group **groups;
	size_t ngroups;
	int fsync;           /* FSync, default 1 */
	char field_delim;    /* FieldDelimiter, default ':' */
	uint64_t buffer_limit; /* BufferLimit bytes, default 10M */
	char *post_sync_cmd; /* global PostSyncCommand, or NULL */
	int parallel;        /* Parallel, default 1 */
	int parallel_folders;/* ParallelFolders: IMAP sessions per channel, default 4 */
};

/* Reads and validates a configuration.  path NULL: $XDG_CONFIG_HOME/facteur/config
 * (XDG_CONFIG_HOME defaults to ~/.config), then ~/.mbsyncrc.  On success *out
 * is the caller's (cfg_free it).  Errors: FCT_E_CONFIG, message "FILE:LINE: what"
 * (or "FILE: what" when the file cannot be read); never contains a secret.
 * Keywords parsed but not implemented (UseKeychain, AltMap) produce one
 * warning on log naming each with its FILE:LINE.  As in mbsync, a section
 * ends at an empty line (comment lines do not end it), global options must
 * come before the first section, and accounts/stores must be defined before
 * the sections that refer to them (groups may name later channels). */
int cfg_load(struct fct_config **out, const char *path, const struct fct_log *log,
             struct fct_err *err);

/* Same, from a string in memory; name is used in messages. */
int cfg_parse_string(struct fct_config **out, const char *text, const char *name,
                     const struct fct_log *log, struct fct_err *err);

void cfg_free(struct fct_config *c);

/* Lookups by exact name; NULL if none.  Results live as long as c. */
const struct cfg_channel *cfg_channel(const struct fct_config *c, const char *name);
const struct cfg_group *cfg_group(const struct fct_config *c, const char *name);
const struct cfg_store *cfg_store(const struct fct_config *c, const char *name);

/* Resolve a credential at use time: Pass, or PassCmd run through `sh -c`,
 * first line of stdout (without its newline); same for User/UserCmd.
 * *out is malloc'd: the caller wipes and frees it.  A missing credential or a
 * failing command is FCT_E_CONFIG (FCT_E_AUTH for an empty password); the
 * message names the account and the keyword, never the secret. */
int cfg_get_pass(const struct cfg_account *a, char **out, struct fct_err *err);
int cfg_get_user(const struct cfg_account *a, char **out, struct fct_err *err);

/* The journal directory for a channel (malloc'd; the caller frees it and
 * creates it if needed).  SyncState is a prefix, as in mbsync: "DIR/" ->
 * DIR/<channel>, "pre-" -> pre-<channel>; "*" -> beside the near Maildir
 * store's root, never inside it (Path "~/Mail/" -> ~/Mail.facteur-state/<channel>;
 * the default rule when the near store is not a Maildir); default
 * $XDG_STATE_HOME/facteur/<channel> (XDG_STATE_HOME defaults to ~/.local/state).
 * '/' in a channel name becomes '_'.  NULL only if there is no home directory. */
char *cfg_state_dir(const struct fct_config *c, const struct cfg_channel *ch);

/* The state directory of the POP3 account behind channel ch's far store,
 * shared by every channel on that account (as mpop keys its UIDLs): under
 * the same base as cfg_state_dir (ch's SyncState), "pop3/USER@HOST:PORT",
 * with user the resolved User, the host lower-cased ("tunnel-ACCOUNT" for a
 * Tunnel), port the effective one, and bytes outside [A-Za-z0-9._+-]
 * written %XX.  NULL if there is no home directory or no account. */
char *cfg_pop3_state_dir(const struct fct_config *c, const struct cfg_channel *ch,
                         const char *user, int port);

#endif
