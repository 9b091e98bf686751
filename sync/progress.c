/* Progress line (see progress.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/progress.h"

#define NAME_MAX_SHOWN 60

struct progress {
	const struct fct_log *log;
	FILE *fp;
	int active;   /* may draw at all */
	int open;     /* a folder is started and has work */
	int drawn;    /* the current line has been drawn at least once */
	char channel[NAME_MAX_SHOWN + 1], box[NAME_MAX_SHOWN + 1];
	uint64_t total_msgs, total_bytes, msgs, bytes;
	int64_t start_ms, last_draw_ms;
};

struct progress *progress_new(const struct fct_log *log, int enabled)
{
	struct progress *p = fct_xcalloc(1, sizeof *p);

	p->log = log;
	p->fp = log && log->fp ? log->fp : stderr;
	p->active = enabled && log && log->level >= 1 && isatty(fileno(p->fp));
	return p;
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	progress_done(p);
	free(p);
}

int progress_active(const struct progress *p)
{
	return p && p->active;
}

static void copy_name(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n > NAME_MAX_SHOWN)
		n = NAME_MAX_SHOWN;
	/* A name is data from a server or a file system: no control bytes on
	 * the terminal. */
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
	dst[n] = '\0';
}

void progress_box(struct progress *p, const char *channel, const char *box, uint64_t total_msgs,
                  uint64_t total_bytes)
{
	if (!p)
		return;
	progress_done(p);
	copy_name(p->channel, channel);
	copy_name(p->box, box);
	p->total_msgs = total_msgs;
	p->total_bytes = total_bytes;
	p->msgs = p->bytes = 0;
	p->start_ms = fct_now_ms();
	p->last_draw_ms = 0;
	p->drawn = 0;
	p->open = total_msgs || total_bytes;
}

/* "1.5 MiB" style sizes; out needs 16 bytes. */
static void human(uint64_t v, char *out, size_t outsz)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%llu B", (unsigned long long)v);
	else
		snprintf(out, outsz, "%.1f %s", d, unit[u]);
}

void progress_format(const struct progress *p, int64_t now_ms, char *out, size_t outsz)
{
	char done[16], total[16], rate[16];
	int64_t el = now_ms - p->start_ms;
	uint64_t bps = el > 0 ? p->bytes * 1000 / (uint64_t)el : 0;
	int n;

	human(p->bytes, done, sizeof done);
	human(p->total_bytes, total, sizeof total);
	human(bps, rate, sizeof rate);
	n = snprintf(out, outsz, "%s %s: %llu/%llu msgs, %s/%s, %s/s", p->channel, p->box,
	             (unsigned long long)p->msgs, (unsigned long long)p->total_msgs, done, total,
	             rate);
	if (n < 0 || (size_t)n >= outsz)
		return;
	if (bps > 0 && p->total_bytes > p->bytes) {
		uint64_t eta = (p->total_bytes - p->bytes) / bps;

		snprintf(out + n, outsz - (size_t)n, ", ETA %llu:%02llu", (unsigned long long)(eta / 60),
		         (unsigned long long)(eta % 60));
	}
}

static void draw(struct progress *p, int64_t now)
{
	char line[256];

	progress_format(p, now, line, sizeof line);
	/* \r and erase-to-end: the line is redrawn in place. */
	fprintf(p->fp, "\r\033[K%s", line);
	fflush(p->fp);
	p->last_draw_ms = now;
	p->drawn = 1;
}

void progress_step(struct progress *p, uint64_t msgs, uint64_t bytes)
{
	int64_t now;

	if (!p || !p->open)
		return;
	p->msgs += msgs;
	p->bytes += bytes;
	if (!p->active)
		return;
	now = fct_now_ms();
	if (!p->drawn || now - p->last_draw_ms >= 1000 / PROGRESS_HZ)
		draw(p, now);
}

void progress_done(struct progress *p)
{
	if (!p || !p->open)
		return;
	p->open = 0;
	if (!p->active)
		return;
	draw(p, fct_now_ms());
	fputc('\n', p->fp);
	fflush(p->fp);
}
