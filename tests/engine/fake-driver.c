/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake driver of the engine's tests (fake-driver.h says what it does). */
#include "config.h"

#include "fake-driver.h"

#include "facts.h"
#include "proc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_UUID "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"

static char *hv_dir;
static enum fake_script scripts[MP_STEP_COUNT];
static unsigned plan_calls[MP_STEP_COUNT];
static unsigned act_calls[MP_STEP_COUNT];
static unsigned ahead_calls, ahead_taken;

static const char *const script_names[] = {
    [FAKE_SUCCEED] = "succeed",
    [FAKE_FAIL_PLAN] = "fail in the plan",
    [FAKE_FAIL_ACT] = "fail cleanly in the act",
    [FAKE_FAIL_LEFT_STATE] = "fail leaving state",
    [FAKE_REFUSE_PLAN] = "refuse its input in the plan",
    [FAKE_CRASH_PLAN] = "crash in the plan",
    [FAKE_CRASH_ACT] = "crash before the side effect",
    [FAKE_CRASH_AFTER] = "crash after the side effect",
};

const char *
fake_script_name(enum fake_script script)
{
    return (unsigned)script < ARRAY_SIZE(script_names) ? script_names[script] : "?";
}

static char *
hv_file(const char *domain)
{
    return xasprintf("%s/%s", hv_dir, domain);
}

/* A domain's file: "source = S", "destination = S", "stream = yes|no". A
 * domain without one has no VM anywhere. */
static int
hv_load(const char *path, struct fake_hv *hv, struct mp_error **err)
{
    *hv = (struct fake_hv){ MP_VM_ABSENT, MP_VM_ABSENT, false };
    _cleanup_free_ char *text = NULL;
    _cleanup_error_ struct mp_error *read_err = NULL;
    int r = mp_read_file(path, 4096, &text, NULL, &read_err);
    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        *err = steal_ptr(&read_err);
        return r;
    }
    char src[32] = "", dst[32] = "", stream[8] = "";
    if (sscanf(text, "source = %31s destination = %31s stream = %7s", src, dst, stream) != 3)
        return mp_error_set(err, EBADMSG, "%s: not a fake hypervisor file", path);
    hv->source = hv->destination = MP_VM_UNKNOWN;
    for (int s = 0; s < MP_VM_COUNT; s++) {
        if (strcmp(src, mp_vm_state_name(s)) == 0)
            hv->source = s;
        if (strcmp(dst, mp_vm_state_name(s)) == 0)
            hv->destination = s;
    }
    hv->stream_completed = strcmp(stream, "yes") == 0;
    return 0;
}

void
fake_hv_read(const char *domain, struct fake_hv *hv)
{
    _cleanup_free_ char *path = hv_file(domain);
    _cleanup_error_ struct mp_error *err = NULL;
    if (hv_load(path, hv, &err) < 0) {
        fprintf(stderr, "fake driver: %s\n", err->message);
        abort();
    }
}

void
fake_hv_write(const char *domain, const struct fake_hv *hv)
{
    _cleanup_free_ char *path = hv_file(domain);
    _cleanup_free_ char *text =
        xasprintf("source = %s\ndestination = %s\nstream = %s\n", mp_vm_state_name(hv->source),
                  mp_vm_state_name(hv->destination), hv->stream_completed ? "yes" : "no");
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_write_file(path, text, strlen(text), &err) < 0) {
        fprintf(stderr, "fake driver: %s\n", err->message);
        abort();
    }
}

void
fake_init_keep(const char *dir)
{
    free(hv_dir);
    hv_dir = xstrdup(dir);
    memset(scripts, 0, sizeof(scripts));
    memset(plan_calls, 0, sizeof(plan_calls));
    memset(act_calls, 0, sizeof(act_calls));
}

void
fake_init(const char *dir)
{
    fake_init_keep(dir);
    fake_hv_write("vm1", &(struct fake_hv){ MP_VM_RUNNING, MP_VM_ABSENT, false });
}

void
fake_script(enum mp_step step, enum fake_script script)
{
    scripts[step] = script;
}

unsigned
fake_plan_calls(enum mp_step step)
{
    return plan_calls[step];
}

unsigned
fake_act_calls(enum mp_step step)
{
    return act_calls[step];
}

void
fake_ahead_calls(unsigned *called, unsigned *taken)
{
    *called = ahead_calls;
    *taken = ahead_taken;
}

/* Perform or Finish --domain, before its cookie: what it readies is the
 * domain's hypervisor file, as the record names it, which the plan checks
 * (take_ahead). */
static void
fake_ahead(struct mp_step_ctx *ctx, int input_fd)
{
    (void)input_fd;
    ahead_calls++;
    const char *hv = mp_journal_record_get_fact(ctx->record, FAKE_FACT_HV);
    if (hv) {
        ctx->ahead = xstrdup(hv);
        ctx->free_ahead = free;
    }
}

static _noreturn_ void
crash(void)
{
    _exit(FAKE_CRASH_STATUS);
}

/* The domain a step works on: Begin names it, the later steps read it. */
static const char *
domain_of(const struct mp_step_ctx *ctx)
{
    if (ctx->step == MP_STEP_BEGIN)
        return ctx->opts->domain ? ctx->opts->domain : "vm1";
    return ctx->in->domain_name;
}

/* What every plan does first: count, die or refuse if told to, record where
 * the VM is, and look at it. */
static int
plan_prologue(struct mp_step_ctx *ctx, struct fake_hv *hv, struct mp_error **err)
{
    plan_calls[ctx->step]++;
    if (scripts[ctx->step] == FAKE_CRASH_PLAN)
        crash();
    if (scripts[ctx->step] == FAKE_FAIL_PLAN)
        return mp_error_set(err, EIO, "fake %s plan failed", mp_step_name(ctx->step));
    if (scripts[ctx->step] == FAKE_REFUSE_PLAN)
        return mp_error_input(err, EINVAL, "fake %s plan refused its input",
                              mp_step_name(ctx->step));
    _cleanup_free_ char *path = hv_file(domain_of(ctx));
    mp_journal_record_set_fact(ctx->record, FAKE_FACT_HV, path);
    fake_hv_read(domain_of(ctx), hv);
    return 0;
}

/* What every act does first: count, die before the side effect if told to,
 * and look at the VM again. Returns the step's script. */
static enum fake_script
act_prologue(struct mp_step_ctx *ctx, struct fake_hv *hv)
{
    act_calls[ctx->step]++;
    if (scripts[ctx->step] == FAKE_CRASH_ACT)
        crash();
    fake_hv_read(domain_of(ctx), hv);
    return scripts[ctx->step];
}

/* Make a side effect durable, then die if told to die after it. */
static void
commit_effect(struct mp_step_ctx *ctx, const struct fake_hv *hv)
{
    fake_hv_write(domain_of(ctx), hv);
    if (scripts[ctx->step] == FAKE_CRASH_AFTER)
        crash();
}

static int
fail_left_state(struct mp_step_ctx *ctx, struct mp_error **err)
{
    mp_error_set(err, EIO, "fake %s failed half-way", mp_step_name(ctx->step));
    return mp_error_left_state(err);
}

static int
fake_begin(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    (void)plan;
    struct fake_hv hv;
    int r = plan_prologue(ctx, &hv, err);
    if (r < 0)
        return r;
    if (hv.source != MP_VM_RUNNING && hv.source != MP_VM_PAUSED)
        return mp_error_set(err, ENOENT, "fake begin: the source VM is %s",
                            mp_vm_state_name(hv.source));
    struct mp_cookie *out = ctx->out;
    out->domain_name = xstrdup(domain_of(ctx));
    out->domain_uuid = xstrdup(FAKE_UUID);
    out->description_format = xstrdup("fake");
    out->description_text = xstrdup("a VM that lives in a text file");
    return 0;
}

static int
prepare_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    (void)state;
    struct fake_hv hv;
    enum fake_script script = act_prologue(ctx, &hv);
    if (script == FAKE_FAIL_ACT) {
        /* A clean failure leaves no VM here, not even one of an earlier run. */
        hv.destination = MP_VM_ABSENT;
        fake_hv_write(domain_of(ctx), &hv);
        return mp_error_set(err, EIO, "fake prepare: the VM did not start");
    }
    hv.destination = MP_VM_INCOMING;
    hv.stream_completed = false;
    commit_effect(ctx, &hv);
    if (script == FAKE_FAIL_LEFT_STATE)
        return fail_left_state(ctx, err);
    free(ctx->out->uri);
    ctx->out->uri = xstrdup(FAKE_URI);
    return 0;
}

static int
fake_prepare(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct fake_hv hv;
    int r = plan_prologue(ctx, &hv, err);
    if (r < 0)
        return r;
    /* As QEMU's Prepare finds the VM's socket taken. */
    if (hv.destination == MP_VM_RUNNING || hv.destination == MP_VM_PAUSED)
        return mp_error_set(err, EEXIST, "fake prepare: %s already runs here", domain_of(ctx));
    plan->act = prepare_act;
    return 0;
}

static bool
was_running(const struct mp_step_ctx *ctx)
{
    return mp_streq0(mp_journal_record_get_fact(ctx->record, FAKE_FACT_WAS_RUNNING), MP_FACT_YES);
}

static int
perform_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    (void)state;
    struct fake_hv hv;
    enum fake_script script = act_prologue(ctx, &hv);
    /* A re-run after a crash takes the result of the stream it left. */
    bool followed = hv.source == MP_VM_MIGRATED && hv.stream_completed;
    if (script == FAKE_FAIL_ACT || (!followed && hv.destination != MP_VM_INCOMING)) {
        /* Cancel whatever stream there was and resume the source as it was. */
        hv.source = was_running(ctx) ? MP_VM_RUNNING : MP_VM_PAUSED;
        fake_hv_write(domain_of(ctx), &hv);
        return mp_error_set(err, EIO, "fake perform: the stream failed");
    }
    if (!followed) {
        hv.source = MP_VM_MIGRATING;
        fake_hv_write(domain_of(ctx), &hv);
    }
    /* As QEMU's: "acting" once the stream runs, not before. */
    mp_notify(MP_NOTIFY_ACTING);
    if (!followed) {
        if (script == FAKE_FAIL_LEFT_STATE)
            return fail_left_state(ctx, err);
        hv.source = MP_VM_MIGRATED;
        hv.stream_completed = true;
    }
    commit_effect(ctx, &hv);
    ctx->out->stats = (struct mp_stats){ .present = true, .total_ms = 1, .total_bytes = 4096 };
    return 0;
}

/* What fake_ahead readied, taken over by the plan: it must be this
 * domain's. */
static int
take_ahead(struct mp_step_ctx *ctx, struct mp_error **err)
{
    _cleanup_free_ char *ready = steal_ptr(&ctx->ahead);
    if (!ready)
        return 0;
    _cleanup_free_ char *mine = hv_file(domain_of(ctx));
    if (strcmp(ready, mine) != 0)
        return mp_error_set(err, EINVAL, "%s_ahead readied %s, not %s", mp_step_name(ctx->step),
                            ready, mine);
    ahead_taken++;
    return 0;
}

static int
fake_perform(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct fake_hv hv;
    int r = plan_prologue(ctx, &hv, err);
    if (r == 0)
        r = take_ahead(ctx, err);
    if (r < 0)
        return r;
    if (hv.source == MP_VM_ABSENT)
        return mp_error_set(err, ENOENT, "fake perform: no source VM");
    /* Whether the VM ran before the first run touched it. */
    if (!mp_journal_record_get_fact(ctx->record, FAKE_FACT_WAS_RUNNING))
        mp_journal_record_set_fact(ctx->record, FAKE_FACT_WAS_RUNNING,
                                   hv.source == MP_VM_PAUSED ? MP_FACT_NO : MP_FACT_YES);
    plan->act = perform_act;
    plan->act_notifies = true;
    return 0;
}

static int
finish_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    (void)state;
    struct fake_hv hv;
    enum fake_script script = act_prologue(ctx, &hv);
    if (ctx->cancel) {
        if (hv.destination == MP_VM_RUNNING) {
            mp_error_set(err, EPERM, "fake finish: the destination VM runs");
            return mp_error_left_state(err);
        }
        if (script == FAKE_FAIL_ACT)
            return mp_error_set(err, EIO, "fake finish: could not stop the VM");
        if (script == FAKE_FAIL_LEFT_STATE)
            return fail_left_state(ctx, err);
        hv.destination = MP_VM_ABSENT;
        commit_effect(ctx, &hv);
        ctx->out->outcome = MP_OUTCOME_CANCELLED;
        return 0;
    }
    if (hv.destination == MP_VM_RUNNING)
        return 0; /* a re-run after a crash that resumed it */
    if (script == FAKE_FAIL_LEFT_STATE) {
        hv.destination = MP_VM_FAILED;
        fake_hv_write(domain_of(ctx), &hv);
        return fail_left_state(ctx, err);
    }
    if (script == FAKE_FAIL_ACT || hv.destination != MP_VM_INCOMING || !hv.stream_completed) {
        /* As QEMU does with a failed incoming stream: the VM goes. */
        hv.destination = MP_VM_ABSENT;
        fake_hv_write(domain_of(ctx), &hv);
        return mp_error_set(err, EIO, "fake finish: the incoming stream failed");
    }
    hv.destination = ctx->in->params.paused ? MP_VM_PAUSED : MP_VM_RUNNING;
    commit_effect(ctx, &hv);
    return 0;
}

static int
fake_finish(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct fake_hv hv;
    int r = plan_prologue(ctx, &hv, err);
    if (r == 0)
        r = take_ahead(ctx, err);
    if (r < 0)
        return r;
    plan->act = finish_act;
    return 0;
}

static int
confirm_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    (void)state;
    struct fake_hv hv;
    enum fake_script script = act_prologue(ctx, &hv);
    if (script == FAKE_FAIL_ACT)
        return mp_error_set(err, EIO, "fake confirm failed");
    if (script == FAKE_FAIL_LEFT_STATE)
        return fail_left_state(ctx, err);
    if (!ctx->cancel)
        hv.source = MP_VM_ABSENT;
    else if (mp_journal_record_get_fact(ctx->record, FAKE_FACT_WAS_RUNNING))
        hv.source = was_running(ctx) ? MP_VM_RUNNING : MP_VM_PAUSED;
    /* else Perform never ran: nothing of the migration's to undo */
    commit_effect(ctx, &hv);
    return 0;
}

static int
fake_confirm(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct fake_hv hv;
    int r = plan_prologue(ctx, &hv, err);
    if (r < 0)
        return r;
    /* As QEMU's Confirm: a source VM that is gone has nothing to quit or resume. */
    if (hv.source != MP_VM_ABSENT)
        plan->act = confirm_act;
    return 0;
}

static int
fake_probe(const struct mp_journal_record *record, const struct mp_options *opts,
           enum mp_vm_state *state, struct mp_error **err)
{
    (void)opts;
    const char *path = mp_journal_record_get_fact(record, FAKE_FACT_HV);
    if (!path)
        return mp_error_set(err, ENOENT, "the record names no fake hypervisor");
    struct fake_hv hv;
    int r = hv_load(path, &hv, err);
    if (r < 0)
        return r;
    *state = record->role == MP_ROLE_SOURCE ? hv.source : hv.destination;
    return 0;
}

static const struct mp_driver_features fake_features = {
    .live = true,
    .cancel = true,
};

/* A test driver: not in the support matrix, so its entries carry no versions. */
const struct mp_driver fake_driver = {
    .abi = MP_DRIVER_ABI,
    .name = "fake",
    .features = &fake_features,
    .begin = fake_begin,
    .prepare = fake_prepare,
    .perform = fake_perform,
    .finish = fake_finish,
    .finish_ahead = fake_ahead,
    .perform_ahead = fake_ahead,
    .confirm = fake_confirm,
    .probe = fake_probe,
};
