/* Watch mode, `facteur watch [CHANNEL...]`: one long-running process that
 * keeps the selected channels synchronized as changes happen.
 *
 *  - Channels: those named (CHANNEL[:BOX,...] and groups, as for a sync);
 *    with none named, the channels configured "Watch yes", or all of them
 *    when none is.
 *  - First a full sync of the channels; then, per IMAP channel, one
 *    connection per far box (INBOX first, at most WATCH_MAX_IDLE in all; the
 *    boxes beyond are polled every WATCH_POLL_S) sitting in IMAP IDLE, each
 *    in its own thread owning its session; and inotify on the near folders'
 *    cur/ and new/.  A change on either side makes its box due after a
 *    debounce (WATCH_DEBOUNCE_MS after the last local event of a burst,
 *    half that for server notifications, at most WATCH_DEBOUNCE_MAX_MS
 *    after the first), and the main thread runs sync_run() for that
 *    channel restricted to the due boxes.
 *  - After syncing a box, inotify events for it are ignored for the
 *    debounce window (our own renames).  IDLE notifications caused by our
 *    own STOREs only cause a sync that finds nothing to do.
 *  - A full resync every interval (default WATCH_INTERVAL_DEFAULT s), which
 *    also picks up boxes created since; IDLE is re-issued at least every
 *    29 minutes (RFC 2177).  Lost connections are retried with exponential
 *    backoff (1 s doubling to 5 min), failed syncs too; every reconnection
 *    is followed by a sync of its box, for what happened meanwhile.
 *  - SIGHUP reloads the configuration (a broken file is reported and the
 *    old one kept); SIGTERM/SIGINT stop after the sync under way (the
 *    journal is committed per batch, so stopping between syncs is clean); a
 *    second SIGTERM/SIGINT during a long sync exits at once, which the crash
 *    protocol also tolerates.
 *
 * The process blocks SIGHUP, SIGINT, SIGTERM and SIGUSR1 in every thread
 * and takes them with sigwaitinfo in a signal thread; forked children get
 * them unblocked again (pthread_atfork). */
#ifndef FACTEUR_WATCH_H
#define FACTEUR_WATCH_H

#include "sync/cli.h"

#define WATCH_INTERVAL_DEFAULT 900
#define WATCH_DEBOUNCE_MS 500
#define WATCH_DEBOUNCE_MAX_MS 2000
#define WATCH_MAX_IDLE 20
#define WATCH_POLL_S 60
#define WATCH_IDLE_MAX_MS (29 * 60 * 1000)
#define WATCH_BACKOFF_MIN_MS 1000
#define WATCH_BACKOFF_MAX_MS (5 * 60 * 1000)

struct watch_opts {
	long interval_s; /* full resync period; 0: WATCH_INTERVAL_DEFAULT */
	int explicit;    /* channels were named on the command line */
};

/* o: the command line with the subcommand's arguments as its targets
 * (config_path, args/nargs or all, log, dry_run, json, operation
 * overrides); borrowed for the whole run, re-resolved on SIGHUP.  Returns
 * the exit status: 0 after a clean stop, 1 if the configuration could not
 * be used at start. */
int watch_run(const struct cli_opts *o, const struct watch_opts *w);

#endif
