/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP conversations both sides of a QEMU migration have: run state,
 * migration capabilities and parameters, migration status, quitting. */
#pragma once

#include "driver.h"
#include "qmp.h"
#include "tls.h"

#include <stdint.h>

/* What query-migrate says, flattened. status is QEMU's word ("none",
 * "setup", "active", "completed", "failed", "cancelled"...). */
struct qemu_migration_info {
    char status[32];
    uint64_t total_ms;
    uint64_t downtime_ms;
    uint64_t setup_ms;
    uint64_t transferred_bytes;
    uint64_t remaining_bytes;
    uint64_t total_bytes;
    uint64_t iterations;
    uint64_t dirty_pages_rate;
    uint64_t mbps;
    char error_desc[256];
    bool blocked; /* QEMU reports a migration blocker */
    char blocked_reasons[256];
};

/* Connect to a VM's monitor with the configured bound on replies. */
int qemu_monitor_open(const char *socket, const struct mp_options *opts, struct qemu_qmp **out,
                      struct mp_error **err);
/* The VM's run state ("running", "paused", "postmigrate", "inmigrate"...). */
int qemu_monitor_status(struct qemu_qmp *qmp, char **status, struct mp_error **err);
/* Run state and migration status together: what a VM is doing. */
int qemu_monitor_state(struct qemu_qmp *qmp, char **run_state, struct qemu_migration_info *info,
                       struct mp_error **err);
/* The same, with the caller's queries in the same round trip: each leaves its
 * own outcome in more[i] (free with qemu_qmp_calls_free); only ours fail it. */
int qemu_monitor_state_and(struct qemu_qmp *qmp, char **run_state, struct qemu_migration_info *info,
                           struct qemu_qmp_call *more, size_t n_more, struct mp_error **err);
/* Which end of the stream a QEMU is. */
enum qemu_stream_end { QEMU_OUTGOING, QEMU_INCOMING };
/* Set every migration capability and parameter we rely on, explicitly (tls
 * NULL: clear text): QEMU keeps them for the life of the process, including
 * values it received as a destination of an earlier migration. The incoming
 * end gets only what it reads (the capabilities both ends must share, the
 * channels, TLS), not the sender's bandwidth, pause or delta cache: QEMU
 * reads a command a byte per turn of its main loop, about 10 us a byte
 * beside a busy guest, and the destination's setup is on the way to the
 * stream. Its next Perform, should it send the VM on, sets those. Neither
 * end gets the throttle here: see qemu_monitor_throttle_args. then (may be
 * NULL) is one more command
 * sent in the same round trip, which QEMU runs even if a setting failed: only
 * for a command whose effect the caller undoes on failure anyway. Fails if a
 * setting failed; then's own outcome is left in *then (ret, result, error:
 * free them with qemu_qmp_calls_free). */
/* reported: what query-migrate-capabilities and query-migrate-parameters
 * answered, asked by the caller in a round trip of its own
 * (QEMU_MONITOR_MIGRATION_QUERIES; a NULL answer sets everything); NULL:
 * asked here. */
int qemu_monitor_setup_migration(struct qemu_qmp *qmp, enum qemu_stream_end end,
                                 const struct mp_params *params, const struct qemu_tls_params *tls,
                                 json_object *const *reported, struct qemu_qmp_call *then,
                                 struct mp_error **err);
/* The two queries of the reported array, in its order. */
#define QEMU_MONITOR_MIGRATION_QUERIES                                                             \
    { .command = "query-migrate-capabilities" },                                                   \
    {                                                                                              \
        .command = "query-migrate-parameters"                                                      \
    }
/* Whether the QEMU whose query-migrate-capabilities answer is reported
 * (NULL: unknown, nothing checked) has every capability the tuning asks
 * for. An input error (ENOTSUP) naming the option and QEMU's version if
 * not. */
int qemu_monitor_check_tuning(json_object *reported, const char *version, const struct mp_tuning *t,
                              struct mp_error **err);
/* migrate-set-parameters arguments for the sender's auto-converge throttle
 * where they differ from what reported says (as for
 * qemu_monitor_setup_migration), or NULL. They go once `migrate` is
 * answered, off the way to the stream (some 70 bytes, 0.7 ms): QEMU throttles only
 * once two of its once-a-second looks found the guest outrunning the
 * stream, seconds after the command that set them. */
json_object *qemu_monitor_throttle_args(json_object *const *reported,
                                        const struct mp_params *params);
/* Whether the migration's auto-converge throttle starts held back at 1%
 * for Perform to release (--converge auto of a live migration without
 * --auto-converge). */
bool qemu_monitor_throttle_held(const struct mp_params *params);
int qemu_monitor_query_migrate(struct qemu_qmp *qmp, struct qemu_migration_info *info,
                               struct mp_error **err);
/* How long a caller waits for a monitor that may be slow: the reply is
 * awaited first_ms, then on for as long as QEMU's monitor has said anything
 * (a late reply, an event) within the last silence_ms. slow (may be NULL) is
 * told each time the wait goes past a further first_ms. */
struct qemu_patience {
    uint64_t first_ms;
    uint64_t silence_ms;
    void (*slow)(void *data, uint64_t waited_ms);
    void *data;
};
/* query-migrate with patience. -ETIMEDOUT only when the monitor stayed
 * silent for silence_ms: then nobody knows what the stream does. */
int qemu_monitor_query_migrate_patient(struct qemu_qmp *qmp, const struct qemu_patience *patience,
                                       struct qemu_migration_info *info, struct mp_error **err);
/* Ask QEMU to quit and make sure its process (pid, if known) is gone,
 * killing it if it does not go within the exit timeout. */
int qemu_monitor_quit(struct qemu_qmp *qmp, pid_t pid, const struct mp_options *opts,
                      struct mp_error **err);
/* When a queued event named name (STOP, RESUME) happened, by its QMP
 * timestamp (the VM host's clock), in microseconds; 0 when none is queued
 * or it has no usable timestamp. Waits at most wait_ms for it. */
uint64_t qemu_monitor_event_time_us(struct qemu_qmp *qmp, const char *name, uint64_t wait_ms);
/* The status a MIGRATION event announces (its data's "status"), NULL when
 * it has none that is a string. */
const char *qemu_monitor_migration_event_status(json_object *event);
/* Whether a MIGRATION event says the incoming stream ended: completed, or
 * handed the VM over to postcopy (*postcopy set). QEMU sends it as its
 * status changes, the same status query-migrate answers from then on. */
bool qemu_monitor_event_ends_incoming(json_object *event, bool *postcopy);
/* Whether the MIGRATION events QEMU already sent (queued, or waiting on the
 * socket: nothing blocks) say the incoming stream ended; the last status
 * decides, as query-migrate would answer. Takes them all. */
bool qemu_monitor_incoming_ended(struct qemu_qmp *qmp, bool *postcopy);
/* Map QEMU's run state and migration status onto ours. */
enum mp_vm_state qemu_monitor_vm_state(const char *run_state, const char *migration_status);
/* Whether a migration status means a stream is under way. */
bool qemu_migration_active(const char *status);
/* Whether a migration status is one of postcopy's (postcopy-active,
 * -paused, -recover): past the switch, the destination has the newest pages. */
bool qemu_migration_postcopy(const char *status);
