/* placeholder */
#ifndef FACTEUR_WATCH_H
#define FACTEUR_WATCH_H
#include "sync/cli.h"
struct watch_opts { long interval_s; int all_when_none, explicit; };
int watch_run(const struct cli_opts *o, const struct watch_opts *w);
#endif
