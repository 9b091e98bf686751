#include "sync/watch.h"
int watch_run(const struct cli_opts *o, const struct watch_opts *w) { (void)o; (void)w; return 1; }
