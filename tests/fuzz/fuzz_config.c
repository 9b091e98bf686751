/* libFuzzer target: the mbsync-style config parser (sync/config*.c), from a
 * string, as cfg_load() would see a user's file.  Accepted configs are
 * queried the way the engine does, so lookups over parsed structures run
 * too. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fct_config *c = NULL;
	struct fct_err err;
	struct fct_log log = {0, 0, NULL};
	char *text;
	static FILE *devnull;

	if (size > 1 << 16)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	log.fp = devnull;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cfg_parse_string(&c, text, "fuzz", &log, &err) == 0) {
		(void)cfg_channel(c, "a");
		(void)cfg_group(c, "a");
		(void)cfg_store(c, "a");
		for (size_t i = 0; i < c->nchannels; i++)
			if (cfg_channel(c, c->channels[i]->name) != c->channels[i])
				__builtin_trap(); /* a parsed channel is found by its name */
		cfg_free(c);
	} else if (err.msg[0] == '\0') {
		__builtin_trap(); /* every failure says what and where */
	}
	free(text);
	return 0;
}
