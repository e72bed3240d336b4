/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hypervisor drivers: one table of operations per driver, annotated with the
 * version that first implemented each entry (docs/hvsupport.pl reads these
 * annotations and generates the support matrix; a missing one fails the build).
 *
 *   const struct mp_driver mp_qemu_driver = {
 *       .name = "qemu",
 *       .begin = qemu_begin, /+ 0.1.0 +/
 *       .confirm = NULL,     /+ 0.1.0 - 0.3.0 +/   (removed again)
 *   };
 *
 * Fields that are function pointers are operations and need a version; the
 * fields of struct mp_driver_features are features and need one too. */
#pragma once

#include "cookie.h"
#include "error.h"
#include "journal.h"
#include "options.h"
#include "protocol.h"

#include <stdint.h>

struct mp_progress;

/* Everything a step's driver operation works with. The engine owns all of
 * it; a driver reads it and sets facts on the record and fields of out. */
struct mp_step_ctx {
    enum mp_step step;
    const struct mp_options *opts;
    const struct mp_cookie *in;       /* cookie read; NULL for Begin */
    struct mp_cookie *out;            /* cookie to write; NULL for Confirm */
    const struct mp_journal *journal; /* locked journal of this domain and role */
    struct mp_journal_record *record; /* facts set here are committed by the engine */
    struct mp_progress *progress;     /* Perform only; may be NULL */
    bool cancel;                      /* Finish, Confirm: undo instead of complete */
    /* prepare --check (journal NULL): the plan describes what its act would
     * run here, for the operator, and the engine prints it. */
    char *check_report;
    /* Perform or Finish --domain: what the driver's perform_ahead or
     * finish_ahead made ready before the cookie came (an open monitor...),
     * for its plan to take over (setting it NULL); the engine frees what is
     * left with free_ahead. */
    void *ahead;
    void (*free_ahead)(void *ahead);
};

/* The work of a step, run once the plan's facts are durable. */
typedef int (*mp_step_act)(struct mp_step_ctx *ctx, void *state, struct mp_error **err);

/* What a driver's plan hands the engine. */
struct mp_step_plan {
    mp_step_act act;                 /* NULL: nothing to do (Begin never has one) */
    void *state;                     /* the plan's findings for act (an open monitor...) */
    void (*free_state)(void *state); /* how to free them; NULL: free() */
    /* act itself says "acting" (mp_notify) once what may overlap it can
     * start without slowing it (QEMU's Perform: once the stream runs, not
     * while its monitor still sets it up); false: the engine says it as act
     * begins. */
    bool act_notifies;
};

/* A driver operation is its plan: it looks (asks the hypervisor, reads the
 * record) and checks, sets the facts recovery will need on ctx->record,
 * and says in *plan what act will do. It has no side effect: the engine
 * commits the journal's STARTED record with those facts before it calls
 * plan->act, so no driver can reach a side effect unrecorded. A plan that
 * fails touched nothing. */
typedef int (*mp_step_op)(struct mp_step_ctx *ctx, struct mp_step_plan *plan,
                          struct mp_error **err);

/* What a VM is doing, as the driver sees it now (for migphase-status). */
enum mp_vm_state {
    MP_VM_UNKNOWN, /* could not be asked */
    MP_VM_ABSENT,  /* no such VM (process gone) */
    MP_VM_RUNNING,
    MP_VM_PAUSED,          /* paused, not by migration */
    MP_VM_INCOMING,        /* destination waiting for or receiving the stream */
    MP_VM_MIGRATING,       /* source sending the stream */
    MP_VM_MIGRATED,        /* source paused after a completed stream */
    MP_VM_FAILED,          /* incoming stream failed; VM unusable */
    MP_VM_POSTCOPY,        /* the stream switched to postcopy: the destination holds the guest */
    MP_VM_POSTCOPY_PAUSED, /* a postcopy stream broke: both sides wait for its recovery */
    MP_VM_COUNT,
};
const char *mp_vm_state_name(enum mp_vm_state state);

/* Migration features a driver offers (a field set true needs a version). */
struct mp_driver_features {
    bool live;
    bool offline;
    bool postcopy;
    bool parallel_streams; /* --parallel */
    bool compression;      /* --compress, of the parallel streams */
    bool xbzrle;           /* --xbzrle */
    bool auto_converge;    /* --auto-converge */
    bool tls;
    bool storage_copy;
    bool bandwidth_limit;
    bool downtime_limit;
    bool paused_destination;
    bool progress;
    bool cancel;
};

/* What a driver module must carry to be loaded: the helpers refuse a module
 * built against other headers (another build's structs would be read
 * wrong). Generated from the headers the driver interface uses. */
#include "engine/driver-abi.gen.h"

struct mp_driver {
    const char *abi; /* MP_DRIVER_ABI of the build the driver belongs to */
    const char *name;
    const struct mp_driver_features *features;
    /* Capabilities (bit CAP_x) the driver's steps need after privileges are
     * dropped; every other one is cleared. */
    uint64_t capabilities;
    /* Begin's own additions: it names the VM process behind a monitor by
     * its executable (/proc/PID/exe), which the kernel shows a process
     * with fewer capabilities than the VM's only with CAP_SYS_PTRACE. */
    uint64_t begin_capabilities;

    /* Each step's operation: its plan (mp_step_op above). */
    int (*begin)(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
    int (*prepare)(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
    int (*perform)(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
    int (*finish)(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
    int (*confirm)(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
    /* Optional: Finish given --domain, before it reads its cookie, with the
     * domain's journal locked and its record in ctx->record (ctx->in and
     * ctx->out NULL). Readies in ctx->ahead what needs no cookie and changes
     * nothing (QEMU: the incoming VM's monitor, and the stream followed
     * until it ends or input_fd, the cookie's descriptor or -1, has
     * something to read), so that only the cookie's own work stands between
     * it and the guest's resume. Failing is allowed: Finish then goes the
     * usual way. */
    void (*finish_ahead)(struct mp_step_ctx *ctx, int input_fd);
    /* Optional: the same for Perform given --domain, with the source's
     * journal locked, before Prepare's cookie: it may ask, not change
     * (QEMU: the VM's monitor opened, the migration settings it has now
     * asked), so that the cookie meets a Perform with less left to do
     * before the stream starts. */
    void (*perform_ahead)(struct mp_step_ctx *ctx, int input_fd);
    /* Ask the hypervisor what the VM of a journal record is doing now. A
     * VM that may live but cannot be asked fails, with why: its state is
     * MP_VM_UNKNOWN, and the operator reads the reason beside it. */
    int (*probe)(const struct mp_journal_record *record, const struct mp_options *opts,
                 enum mp_vm_state *state, struct mp_error **err);
};

/* The name of the i-th driver this build has (from 0), NULL past the last:
 * linked in, or a module (MIGPHASE_DRIVER_DIR, else beside the program,
 * else the package's driver folder) loaded when first looked up. */
const char *mp_driver_name(size_t i);

/* Find a driver by name, loading its module if it is one. Unknown names fail
 * with an MP_ERR_INPUT error, and so does a module that cannot be loaded (a
 * driver that is not installed), with the loader's reason. */
int mp_driver_lookup(const char *name, const struct mp_driver **out, struct mp_error **err);
/* The operation of a step, or NULL. */
mp_step_op mp_driver_step_op(const struct mp_driver *driver, enum mp_step step);
/* Run a step's plan; a NULL entry fails with "driver X does not support Y". */
int mp_driver_plan_step(const struct mp_driver *driver, struct mp_step_ctx *ctx,
                        struct mp_step_plan *plan, struct mp_error **err);
/* Free what a plan holds for its act, and clear it. */
void mp_step_plan_clear(struct mp_step_plan *plan);
