/* progress.c — progress on stderr: a bar per table in flight (rows, rows/s, ETA) redrawn in
 * place on a terminal, each line cut to the terminal's width (asked at every redraw, so a
 * resize is followed) so that no line wraps and a redraw leaves nothing stale; the steps
 * after the rows (keys and indexes, foreign keys, verify, analyze) as a status line; one
 * line per finished table when piped; nothing when quiet. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

#define MAX_ACTIVE 16

typedef struct active {
	char key[512];        /* stage/source->table */
	char label[256];
	int64_t done, total, resumed, chunks_done, chunks_total;
	double started;
	int live;
} active;

struct cli_progress {
	FILE *out;
	int quiet, tty;
	active rows[MAX_ACTIVE];
	int drawn;            /* lines of bars currently on screen */
	double last_draw;
	char phase[256];      /* the step after the rows in progress, or "" */
	double phase_started;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cli_progress *cli_progress_new(FILE *out, int quiet)
{
	cli_progress *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->out = out;
	p->quiet = quiet;
	const char *term = getenv("TERM");
	p->tty = isatty(fileno(out)) && !(term && strcmp(term, "dumb") == 0);
	return p;
}

static void human(char *buf, size_t n, double v)
{
	if (v >= 1e9)
		snprintf(buf, n, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, n, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else
		snprintf(buf, n, "%.0f", v);
}

/* The terminal's width: TIOCGWINSZ, else $COLUMNS, else 80. */
static int width(const cli_progress *p)
{
	struct winsize ws;
	if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	int n = c ? atoi(c) : 0;
	return n > 0 ? n : 80;
}

/* Print s cut to at most cols characters (UTF-8: a character is its lead byte). */
static void put_cut(FILE *f, const char *s, int cols)
{
	int n = 0;
	const char *e = s;
	for (; *e; e++) {
		if (((unsigned char)*e & 0xc0) != 0x80 && n++ == cols)
			break;
	}
	fwrite(s, 1, (size_t)(e - s), f);
	fputc('\n', f);
}

/* name for one line of output into out (cap bytes): control characters as \xHH so a name
 * holding a newline stays on its line, cut between UTF-8 characters, never inside one. */
static const char *shown(char *out, size_t cap, const char *name)
{
	size_t o = 0, start = 0; /* start: where the last character began in out */
	for (const unsigned char *s = (const unsigned char *)(name ? name : ""); *s; s++) {
		char tmp[8];
		size_t n = 1;
		if (*s < 0x20 || *s == 0x7f)
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *s);
		else
			tmp[0] = (char)*s;
		if ((*s & 0xC0) != 0x80)
			start = o;
		if (o + n >= cap) {
			if ((*s & 0xC0) == 0x80)
				o = start; /* cut short inside a character: drop its first bytes */
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

static void clear_bars(cli_progress *p)
{
	for (int i = 0; i < p->drawn; i++)
		fputs("\033[1A\033[2K", p->out);
	p->drawn = 0;
}

static void draw_bar(cli_progress *p, const active *a, int cols)
{
	double el = now() - a->started;
	double rate = el > 0 ? (double)(a->done - a->resumed) / el : 0;
	double frac = a->total > 0 ? (double)a->done / (double)a->total : 0;
	if (frac > 1)
		frac = 1;
	char d[16], r[16], eta[32] = "--:--";
	human(d, sizeof(d), (double)a->done);
	human(r, sizeof(r), rate);
	if (rate > 0 && a->total > a->done) {
		long s = (long)((double)(a->total - a->done) / rate);
		snprintf(eta, sizeof(eta), "%ld:%02ld", s / 60, s % 60);
	}
	char lab[200];
	shown(lab, sizeof(lab), a->label);
	char tail[96];
	int tl = snprintf(tail, sizeof(tail), " %3.0f%% %6s rows %6s/s ETA %s", frac * 100, d, r, eta);
	/* One character short of the width: a line that fills the last column wraps on some
	 * terminals. The label takes up to a third of what is left, the bar the rest. */
	int room = cols - 1 - tl - 3;
	int lw = room / 3 < 32 ? room / 3 : 32;
	int bw = room - lw - 1;
	if (bw > 40)
		bw = 40;
	char line[512];
	if (lw < 4 || bw < 5) {
		snprintf(line, sizeof(line), "%s%s", lab, tail);
	} else {
		char bar[41];
		int fill = (int)(frac * bw);
		for (int i = 0; i < bw; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[bw] = '\0';
		snprintf(line, sizeof(line), "%-*.*s [%s]%s", lw, lw, lab, bar, tail);
	}
	put_cut(p->out, line, cols - 1);
}

static void redraw(cli_progress *p)
{
	clear_bars(p);
	int cols = width(p);
	for (int i = 0; i < MAX_ACTIVE; i++)
		if (p->rows[i].live) {
			draw_bar(p, &p->rows[i], cols);
			p->drawn++;
		}
	if (p->phase[0]) {
		char line[512];
		snprintf(line, sizeof(line), "%s (%.0fs)", p->phase, now() - p->phase_started);
		put_cut(p->out, line, cols - 1);
		p->drawn++;
	}
	fflush(p->out);
	p->last_draw = now();
}

static active *find(cli_progress *p, const char *key, int create)
{
	for (int i = 0; i < MAX_ACTIVE; i++)
		if (p->rows[i].live && strcmp(p->rows[i].key, key) == 0)
			return &p->rows[i];
	if (!create)
		return NULL;
	for (int i = 0; i < MAX_ACTIVE; i++)
		if (!p->rows[i].live) {
			memset(&p->rows[i], 0, sizeof(p->rows[i]));
			snprintf(p->rows[i].key, sizeof(p->rows[i].key), "%s", key);
			p->rows[i].live = 1;
			p->rows[i].started = now();
			return &p->rows[i];
		}
	return NULL;
}

void cli_progress_event(void *ud, const ferry_progress *e)
{
	cli_progress *p = ud;
	if (p && e->kind == FERRY_PROGRESS_LEASE && e->message) {
		/* Who holds the run, and a takeover, are said even with --quiet: they are not
		 * progress but what this process is doing instead of the run, or why it resumes. */
		if (p->tty)
			clear_bars(p);
		fprintf(p->out, "ferry: %s\n", e->message);
		fflush(p->out);
		return;
	}
	if (!p || p->quiet)
		return;
	if (e->kind == FERRY_PROGRESS_NOTE)
		return; /* the summary lists every note once, after the figures */
	if (e->kind == FERRY_PROGRESS_PHASE) {
		/* On a terminal only: piped output stays one line per table. */
		if (!p->tty)
			return;
		if (e->table && e->chunks_total > 1)
			snprintf(p->phase, sizeof(p->phase), "after the rows: %s of %s (%lld of %lld)", e->message,
			         e->table, (long long)e->chunks_done + 1, (long long)e->chunks_total);
		else if (e->table)
			snprintf(p->phase, sizeof(p->phase), "after the rows: %s of %s", e->message, e->table);
		else
			snprintf(p->phase, sizeof(p->phase), "after the rows: %s", e->message ? e->message : "");
		p->phase_started = now();
		redraw(p);
		return;
	}
	char key[512];
	snprintf(key, sizeof(key), "%s/%s->%s", e->stage ? e->stage : "", e->source ? e->source : "",
	         e->table ? e->table : "");
	active *a = find(p, key, e->kind != FERRY_PROGRESS_DONE);
	if (a) {
		shown(a->label, sizeof(a->label), e->table);
		a->done = e->rows_done;
		a->resumed = e->rows_resumed;
		a->total = e->rows_total;
		a->chunks_done = e->chunks_done;
		a->chunks_total = e->chunks_total;
	}
	if (e->kind == FERRY_PROGRESS_DONE) {
		double el = a ? now() - a->started : 0;
		if (p->tty)
			clear_bars(p);
		char r[16];
		int64_t now_rows = e->rows_done - e->rows_resumed;
		human(r, sizeof(r), el > 0 ? (double)now_rows / el : 0);
		char tn[600], sn[600];
		shown(tn, sizeof(tn), e->table);
		shown(sn, sizeof(sn), e->source);
		if (now_rows == 0 && e->rows_resumed > 0)
			fprintf(p->out, "%s <- %s: %lld rows, all loaded by an earlier run\n", tn, sn,
			        (long long)e->rows_done);
		else if (e->rows_resumed > 0)
			fprintf(p->out, "%s <- %s: %lld rows (%lld resumed from an earlier run) in %.2fs (%s rows/s)\n",
			        tn, sn, (long long)e->rows_done, (long long)e->rows_resumed, el, r);
		else
			fprintf(p->out, "%s <- %s: %lld rows in %.2fs (%s rows/s)\n", tn, sn,
			        (long long)e->rows_done, el, r);
		if (a)
			a->live = 0;
		if (p->tty)
			redraw(p);
		else
			fflush(p->out);
		return;
	}
	if (p->tty && now() - p->last_draw >= 0.1)
		redraw(p);
}

void cli_progress_finish(cli_progress *p)
{
	if (p && p->tty) {
		p->phase[0] = '\0';
		clear_bars(p);
		fflush(p->out);
	}
}

void cli_progress_free(cli_progress *p)
{
	free(p);
}
