#include "config.h"

#include "driver.h"

#include <errno.h>
#include <string.h>

extern const struct mp_driver mp_qemu_driver;
#ifdef WITH_XEN
extern const struct mp_driver mp_xen_driver;
#endif

const struct mp_driver *const mp_drivers[] = {
    &mp_qemu_driver,
#ifdef WITH_XEN
    &mp_xen_driver,
#endif
    NULL,
};

static const char *const vm_state_names[] = {
    [MP_VM_UNKNOWN] = "unknown",   [MP_VM_ABSENT] = "absent",     [MP_VM_RUNNING] = "running",
    [MP_VM_PAUSED] = "paused",     [MP_VM_INCOMING] = "incoming", [MP_VM_MIGRATING] = "migrating",
    [MP_VM_MIGRATED] = "migrated", [MP_VM_FAILED] = "failed",
};

const char *
mp_vm_state_name(enum mp_vm_state state)
{
    if ((unsigned)state >= ARRAY_SIZE(vm_state_names))
        return "unknown";
    return vm_state_names[state];
}

int
mp_driver_lookup(const char *name, const struct mp_driver **out, struct mp_error **err)
{
    for (size_t i = 0; mp_drivers[i]; i++) {
        if (strcmp(mp_drivers[i]->name, name) == 0) {
            *out = mp_drivers[i];
            return 0;
        }
    }
    _cleanup_free_ char *known = xstrdup(mp_drivers[0]->name);
    for (size_t i = 1; mp_drivers[i]; i++) {
        char *more = xasprintf("%s, %s", known, mp_drivers[i]->name);
        free(known);
        known = more;
    }
    return mp_error_input(err, ENOENT, "unknown driver '%s' (this build has: %s)", name, known);
}

mp_step_op
mp_driver_step_op(const struct mp_driver *driver, enum mp_step step)
{
    switch (step) {
    case MP_STEP_BEGIN:
        return driver->begin;
    case MP_STEP_PREPARE:
        return driver->prepare;
    case MP_STEP_PERFORM:
        return driver->perform;
    case MP_STEP_FINISH:
        return driver->finish;
    case MP_STEP_CONFIRM:
        return driver->confirm;
    case MP_STEP_COUNT:
        break;
    }
    return NULL;
}

int
mp_driver_run_step(const struct mp_driver *driver, struct mp_step_ctx *ctx, struct mp_error **err)
{
    mp_step_op op = mp_driver_step_op(driver, ctx->step);
    if (!op)
        return mp_error_input(err, ENOTSUP, "driver %s does not support %s", driver->name,
                              mp_step_name(ctx->step));
    return op(ctx, err);
}

int
mp_step_checkpoint(struct mp_step_ctx *ctx, enum mp_journal_phase phase, struct mp_error **err)
{
    ctx->record->step = ctx->step;
    ctx->record->phase = phase;
    int r = mp_journal_commit(ctx->journal, ctx->record, err);
    if (r < 0)
        return mp_error_prefix(err, "recording step %s in the journal", mp_step_name(ctx->step));
    return 0;
}
