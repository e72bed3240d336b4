/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "progress.h"

#include <stdio.h>
#include <string.h>

#define BAR_WIDTH       30
#define BAR_INTERVAL_MS 100

struct mp_progress {
    enum mp_progress_mode mode; /* BAR or JSON */
    int fd;
    uint64_t last_draw_ms;
    bool drawn;
};

struct mp_progress *
mp_progress_new(enum mp_progress_mode mode, int fd)
{
    if (mode == MP_PROGRESS_AUTO)
        mode = isatty(fd) ? MP_PROGRESS_BAR : MP_PROGRESS_NONE;
    if (mode == MP_PROGRESS_NONE)
        return NULL;
    struct mp_progress *p = xzalloc(sizeof(*p));
    p->mode = mode;
    p->fd = fd;
    return p;
}

static unsigned
percent_done(const struct mp_progress_sample *s)
{
    if (strcmp(s->status, "completed") == 0)
        return 100;
    uint64_t total = s->transferred_bytes + s->remaining_bytes;
    if (total == 0)
        return 0;
    /* Later passes resend dirty pages: progress is transferred against what
     * is sent plus what remains, which only reaches 100 at switch-over. */
    unsigned pct = (unsigned)(s->transferred_bytes * 100 / total);
    return pct > 99 ? 99 : pct;
}

static void
draw_bar(struct mp_progress *p, const struct mp_progress_sample *s, bool final)
{
    unsigned pct = percent_done(s);
    char bar[BAR_WIDTH + 1];
    unsigned filled = pct * BAR_WIDTH / 100;
    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[BAR_WIDTH] = '\0';
    char line[256];
    int n = snprintf(
        line, sizeof(line),
        "\r[%s] %3u%% %6.1f MiB sent, %6.1f MiB left, pass %llu, %5llu Mbit/s, %.1f s %-10s%s", bar,
        pct, (double)s->transferred_bytes / (1 << 20), (double)s->remaining_bytes / (1 << 20),
        (unsigned long long)s->iterations, (unsigned long long)s->mbps,
        (double)s->elapsed_ms / 1000.0, s->status, final ? "\n" : "");
    if (n > 0 && s->disk_total_bytes && (size_t)n < sizeof(line) - 40)
        n = snprintf(line + n - (final ? 1 : 0), sizeof(line) - (size_t)n, " disks %.1f MiB left%s",
                     (double)s->disk_remaining_bytes / (1 << 20), final ? "\n" : "") +
            n - (final ? 1 : 0);
    if (n > 0)
        (void)!mp_write_all(p->fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    p->drawn = true;
}

static void
write_json(struct mp_progress *p, const struct mp_progress_sample *s, bool final)
{
    char line[512];
    int n = snprintf(line, sizeof(line),
                     "{\"event\":\"%s\",\"status\":\"%s\",\"elapsed_ms\":%llu,\"percent\":%u,"
                     "\"total_bytes\":%llu,\"transferred_bytes\":%llu,\"remaining_bytes\":%llu,"
                     "\"iterations\":%llu,\"dirty_pages_rate\":%llu,\"mbps\":%llu}\n",
                     final ? "done" : "progress", s->status, (unsigned long long)s->elapsed_ms,
                     percent_done(s), (unsigned long long)s->total_bytes,
                     (unsigned long long)s->transferred_bytes,
                     (unsigned long long)s->remaining_bytes, (unsigned long long)s->iterations,
                     (unsigned long long)s->dirty_pages_rate, (unsigned long long)s->mbps);
    /* The disks' figures only when the migration copies disks. */
    if (n > 0 && s->disk_total_bytes && (size_t)n < sizeof(line))
        n = snprintf(line + n - 2, sizeof(line) - (size_t)n + 2,
                     ",\"disk_total_bytes\":%llu,\"disk_remaining_bytes\":%llu}\n",
                     (unsigned long long)s->disk_total_bytes,
                     (unsigned long long)s->disk_remaining_bytes) +
            n - 2;
    if (n > 0 && (size_t)n < sizeof(line))
        (void)!mp_write_all(p->fd, line, (size_t)n);
}

void
mp_progress_update(struct mp_progress *p, const struct mp_progress_sample *s)
{
    if (!p)
        return;
    uint64_t now = mp_now_ms();
    if (p->drawn && now - p->last_draw_ms < BAR_INTERVAL_MS)
        return;
    p->last_draw_ms = now;
    if (p->mode == MP_PROGRESS_BAR)
        draw_bar(p, s, false);
    else
        write_json(p, s, false);
    p->drawn = true;
}

void
mp_progress_finish(struct mp_progress *p, const struct mp_progress_sample *s)
{
    if (!p)
        return;
    if (p->mode == MP_PROGRESS_BAR)
        draw_bar(p, s, true);
    else
        write_json(p, s, true);
}

/* text as a JSON string's body: quotes, backslashes and controls escaped,
 * cut to fit. */
static void
json_escape(char *out, size_t size, const char *text)
{
    size_t n = 0;
    for (const char *c = text; *c && n + 7 < size; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == '"' || ch == '\\')
            n += (size_t)snprintf(out + n, size - n, "\\%c", ch);
        else if (ch < 0x20)
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", ch);
        else
            out[n++] = (char)ch;
    }
    out[n] = '\0';
}

void
mp_progress_note(struct mp_progress *p, const char *event, uint64_t elapsed_ms, const char *text)
{
    if (!p)
        return;
    char line[512], body[256];
    int n;
    if (p->mode == MP_PROGRESS_BAR) {
        /* A line of its own above the bar, which the next sample redraws. */
        n = snprintf(line, sizeof(line), "%s%s: %s\n", p->drawn ? "\n" : "", event, text);
        p->drawn = false;
    } else {
        json_escape(body, sizeof(body), text);
        n = snprintf(line, sizeof(line),
                     "{\"event\":\"%s\",\"elapsed_ms\":%llu,\"detail\":\"%s\"}\n", event,
                     (unsigned long long)elapsed_ms, body);
    }
    if (n > 0 && (size_t)n < sizeof(line))
        (void)!mp_write_all(p->fd, line, (size_t)n);
}

void
mp_progress_free(struct mp_progress *p)
{
    free(p);
}
