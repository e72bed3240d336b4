/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Declarations shared by the Xen driver's files: the steps, the libxl context
 * every step opens, the domain names a migration uses, and the receiver's
 * result file. */
#pragma once

/* Pinned so that a newer libxl keeps the calling conventions written here
 * (synchronous calls take a NULL ao_how). Set before any libxl header. */
#define LIBXL_API_VERSION 0x041400

#include "driver.h"
#include "proc.h"

#include <libxl.h>
#include <libxl_utils.h>
#include <stdint.h>

/* The libxl stream format the sender writes (libxl migration v2) and the
 * receiver must be told about. */
#define XEN_STREAM_VERSION        2
#define XEN_STREAM_VERSION_STRING "2"

/* While it moves, the domain has a second name on each host, so that both
 * copies can exist on one host (a localhost migration) and a human can tell
 * them apart. Both fit mp_journal_check_domain's alphabet. */
#define XEN_SUFFIX_INCOMING     "--incoming"
#define XEN_SUFFIX_MIGRATEDAWAY "--migratedaway"

/* The receiver program Prepare starts, and its files in the journal dir. */
#define XEN_RECEIVER_PROGRAM "migphase-xen-receiver"
#define XEN_RECEIVER_RESULT  "receiver.result"
#define XEN_RECEIVER_LOG     "receiver.log"
#define XEN_RECEIVER_CONFIG  "incoming.json"

/* The journal facts the driver keeps (docs/xen.md lists them). */
/* Source: the domain Begin found; destination: the one the receiver
 * restored, recorded by Finish's plan before Finish touches it. */
#define XEN_FACT_DOMID "domid"
/* The receiver Prepare started, as mp_proc_record writes a process: its pid
 * here, its start time in XEN_FACT_RECEIVER_PID_START. */
#define XEN_FACT_RECEIVER_PID       "receiver-pid"
#define XEN_FACT_RECEIVER_PID_START XEN_FACT_RECEIVER_PID "-start"
/* The port it listens on, and how the stream ended for it (Finish). */
#define XEN_FACT_PORT             "port"
#define XEN_FACT_RECEIVER_OUTCOME "receiver"

/* The steps' plans (mp_step_op): each looks and records, and leaves what
 * changes anything to the act it returns in *plan. */
int xen_begin(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int xen_prepare(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int xen_perform(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int xen_finish(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int xen_confirm(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int xen_probe(const struct mp_journal_record *record, const struct mp_options *opts,
              enum mp_vm_state *state, struct mp_error **err);

/* ---- libxl context (xen/context.c) ---- */

/* A libxl context with a logger that keeps libxl's last error, so that a
 * failed call can say why in the step's one error message. */
struct xen_ctx;

/* Open libxl (needs xenstore and /dev/xen, so a dom0 as root). libxl's own
 * child processes (the save/restore helper) are reaped selectively, so a
 * caller may have and reap children of its own. */
int xen_ctx_open(struct xen_ctx **out, struct mp_error **err);
void xen_ctx_close(struct xen_ctx *x);
static inline void
xen_ctx_closep(struct xen_ctx **x)
{
    xen_ctx_close(*x);
}
#define _cleanup_xen_ctx_ _cleanup_(xen_ctx_closep)
libxl_ctx *xen_libxl(struct xen_ctx *x);

/* Fail with a libxl return code: the message is fmt, then what libxl logged
 * last at error level (forgotten afterwards). Returns the negative errno. */
int xen_fail(struct xen_ctx *x, struct mp_error **err, int rc, const char *fmt, ...) _printf_(4, 5);
/* Forget libxl's last error (after a call whose failure is expected). */
void xen_forget_error(struct xen_ctx *x);

/* ---- domains (xen/domain.c) ---- */

/* What the driver needs to know of a domain now. */
struct xen_domain {
    uint32_t domid;
    char *name; /* NULL if xenstore has none (a dying domain) */
    char uuid[LIBXL_UUID_FMTLEN + 1];
    libxl_dominfo info;
};
void xen_domain_clear(struct xen_domain *d);
#define _cleanup_xen_domain_ _cleanup_(xen_domain_clear)

/* The domain with this domid, if there is one and (when uuid is not NULL) it
 * has this UUID: a domid names a domain only while it lives. -ENOENT without
 * an error message when there is none. */
int xen_domain_get(struct xen_ctx *x, uint32_t domid, const char *uuid, struct xen_domain *d,
                   struct mp_error **err);
/* The domain with this name; -ENOENT without an error message if none. */
int xen_domain_find(struct xen_ctx *x, const char *name, const char *uuid, struct xen_domain *d,
                    struct mp_error **err);
/* Shut down for suspension: what the sender leaves behind. */
bool xen_domain_suspended(const struct xen_domain *d);
/* Alive and not paused or shut down: the guest's vCPUs may run. */
bool xen_domain_running(const struct xen_domain *d);
/* name + suffix, newly allocated. */
char *xen_name_with(const char *name, const char *suffix);
/* Rename a domain that is called `from` (checked by libxl in the same
 * xenstore transaction). */
int xen_domain_rename(struct xen_ctx *x, struct xen_domain *d, const char *to,
                      struct mp_error **err);
/* Turn off Xen's dirty-memory tracking (log-dirty mode) of a domain whose
 * live stream failed: libxl's save helper turns it off when it ends, but
 * one that died (of SIGPIPE, its receiver gone) leaves it on. */
int xen_domain_stop_dirty_tracking(const struct xen_domain *d, struct mp_error **err);
/* Destroy a domain (synchronously: it is gone when this returns). */
int xen_domain_destroy(struct xen_ctx *x, const struct xen_domain *d, struct mp_error **err);
/* Record a domid fact; read it back (0 when missing or malformed: dom0 is
 * never migrated). */
void xen_record_domid(struct mp_journal_record *record, const char *key, uint32_t domid);
uint32_t xen_recorded_domid(const struct mp_journal_record *record, const char *key);

/* ---- suspend requests that outlive their sender (xen/suspend.c) ---- */

/* How long a guest that took a suspend request may take to suspend: libxl's
 * own bound. */
#define XEN_SUSPEND_WAIT_MS 60000

/* A xenstore watch on a domain's control/shutdown, where libxl asks the guest
 * to suspend. NULL (said at debug level) when xenstore cannot be watched. */
struct xen_suspend_watch;
struct xen_suspend_watch *xen_suspend_watch_start(uint32_t domid);
void xen_suspend_watch_free(struct xen_suspend_watch *w);
/* After a stream that did not complete, before undoing it: withdraw a suspend
 * request the guest has not taken; if the watch saw one taken, wait (up to
 * XEN_SUSPEND_WAIT_MS) for the guest to suspend. Without a watch, only
 * withdraw. The domain's state is final when this returns 0. */
int xen_suspend_settle(struct xen_ctx *x, uint32_t domid, struct xen_suspend_watch *w,
                       struct mp_error **err);

/* ---- the receiver's result file (xen/result.c) ---- */

enum xen_receiver_state {
    XEN_RECEIVER_STARTING, /* not listening yet, or no result file */
    XEN_RECEIVER_LISTENING,
    XEN_RECEIVER_RECEIVING,
    XEN_RECEIVER_RESTORED, /* the domain exists, paused, with the whole state */
    XEN_RECEIVER_FAILED,
};

struct xen_result {
    enum xen_receiver_state state;
    uint16_t port;
    uint32_t domid;
    char *message;
    /* Who wrote it: the receiver names itself in its first report, before
     * anything else, since only it knows its pid when the helper that
     * started it dies at once (the helper commits no fact while it acts). */
    char *migration_id;
    pid_t pid;
    uint64_t pid_start; /* its start time (mp_proc_start_time) */
};
void xen_result_clear(struct xen_result *r);
#define _cleanup_xen_result_ _cleanup_(xen_result_clear)
const char *xen_receiver_state_name(enum xen_receiver_state state);
/* Write the result atomically (the reader never sees half a file). */
int xen_result_write(const char *path, const struct xen_result *r, struct mp_error **err);
/* Read it; a missing file reads as XEN_RECEIVER_STARTING. */
int xen_result_read(const char *path, struct xen_result *r, struct mp_error **err);
/* The result file of a destination journal, from the state directory, for
 * readers that do not hold the journal (migphase-status). */
char *xen_result_path_for(const char *state_dir, const char *domain);
/* The receiver of a migration: the one its result file names, if the file
 * is that migration's (Prepare's act removes it before it starts a receiver,
 * which writes it first thing: it names the newest), else the one the
 * record names. Sets the record's receiver facts to it, so that a plan's
 * commit makes them durable. */
void xen_receiver_observe(struct mp_journal_record *record, const struct xen_result *res);
/* What became of that receiver (mp_proc_recorded); *pid names it if ALIVE. */
enum mp_proc_fate xen_receiver_fate(const struct mp_journal_record *record,
                                    const struct xen_result *res, pid_t *pid);

/* ---- the stream's framing (xen/stream.c) ---- */

/* Split "tcp:HOST:PORT" or "tcp:[V6]:PORT". */
int xen_uri_parse(const char *uri, char **host, uint16_t *port, struct mp_error **err);
/* Connect to a stream URI within timeout_ms; *fd is a blocking socket. */
int xen_stream_connect(const char *uri, uint64_t timeout_ms, int *fd, struct mp_error **err);
/* Write a whole line (line must end with '\n'). */
int xen_stream_write_line(int fd, const char *line, struct mp_error **err);
/* Read one line, byte by byte so that nothing past its '\n' is consumed
 * (the libxl stream follows the header on the same socket). The '\n' is
 * dropped. -ETIMEDOUT, -EINTR (mp_interrupted), -ECONNRESET on EOF. */
int xen_stream_read_line(int fd, uint64_t timeout_ms, char *buf, size_t size,
                         struct mp_error **err);
/* Bytes the peer acknowledged on a TCP socket, 0 if unknown. */
uint64_t xen_stream_bytes_acked(int fd);
/* The header the sender writes before the libxl stream, and the receiver's
 * answer after restoring ("ok DOMID" or "failed MESSAGE"). */
#define XEN_STREAM_MAGIC    "migphase-xen-stream"
#define XEN_STREAM_LINE_MAX 512
char *xen_stream_header(const char *migration_id);
bool xen_stream_header_matches(const char *line, const char *migration_id);
