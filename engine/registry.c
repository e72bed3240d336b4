/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "driver.h"
#include "proc.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

extern const struct mp_driver mp_qemu_driver;

/* A driver is linked into every helper, or is a module loaded on first use:
 * a module's libraries (libxenlight pulls in a dozen) then cost nothing to
 * the helpers of a migration that does not use it, and a distribution can
 * ship it in a package of its own. */
struct driver_slot {
    const char *name;
    const struct mp_driver *builtin;
    const char *module; /* file name in the driver directory */
    const char *symbol; /* the module's struct mp_driver */
};

static const struct driver_slot driver_slots[] = {
    { .name = "qemu", .builtin = &mp_qemu_driver },
#ifdef WITH_XEN
    { .name = "xen", .module = "migphase-driver-xen.so", .symbol = "mp_xen_driver" },
#endif
};

const char *
mp_driver_name(size_t i)
{
    return i < ARRAY_SIZE(driver_slots) ? driver_slots[i].name : NULL;
}

static const char *const vm_state_names[] = {
    [MP_VM_UNKNOWN] = "unknown",   [MP_VM_ABSENT] = "absent",
    [MP_VM_RUNNING] = "running",   [MP_VM_PAUSED] = "paused",
    [MP_VM_INCOMING] = "incoming", [MP_VM_MIGRATING] = "migrating",
    [MP_VM_MIGRATED] = "migrated", [MP_VM_FAILED] = "failed",
    [MP_VM_POSTCOPY] = "postcopy", [MP_VM_POSTCOPY_PAUSED] = "postcopy-paused",
};

const char *
mp_vm_state_name(enum mp_vm_state state)
{
    if ((unsigned)state >= ARRAY_SIZE(vm_state_names))
        return "unknown";
    return vm_state_names[state];
}

static int
load_module(const struct driver_slot *slot, const struct mp_driver **out, struct mp_error **err)
{
    /* MIGPHASE_DRIVER_DIR, beside the program (the helpers copied to one
     * folder), or where the package installs drivers. */
    _cleanup_free_ char *path =
        mp_find_file("MIGPHASE_DRIVER_DIR", slot->module, MP_DRIVERDIR, F_OK);
    /* RTLD_NOW: a module that does not fit this helper fails here, with the
     * missing symbol named, not in the middle of a step. */
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return mp_error_input(err, ENOENT, "the %s driver cannot be loaded: %s", slot->name,
                              dlerror());
    const struct mp_driver *driver = dlsym(handle, slot->symbol);
    if (!driver || strcmp(driver->name, slot->name) != 0) {
        dlclose(handle);
        return mp_error_input(err, ENOENT, "%s is not the %s driver of this migphase", path,
                              slot->name);
    }
    /* The stamp is the struct's first field, where every build keeps it. */
    if (!driver->abi || strcmp(driver->abi, MP_DRIVER_ABI) != 0) {
        int r = mp_error_input(err, EPROTO,
                               "%s belongs to another build of migphase (driver interface %s, "
                               "this helper's is %s): install the module of this build",
                               path, driver->abi ? driver->abi : "unknown", MP_DRIVER_ABI);
        dlclose(handle);
        return r;
    }
    /* Never closed: the helper uses the driver until it exits. */
    *out = driver;
    return 0;
}

int
mp_driver_lookup(const char *name, const struct mp_driver **out, struct mp_error **err)
{
    static const struct mp_driver *loaded[ARRAY_SIZE(driver_slots)];
    for (size_t i = 0; i < ARRAY_SIZE(driver_slots); i++) {
        const struct driver_slot *slot = &driver_slots[i];
        if (strcmp(slot->name, name) != 0)
            continue;
        if (slot->builtin) {
            *out = slot->builtin;
            return 0;
        }
        if (!loaded[i]) {
            int r = load_module(slot, &loaded[i], err);
            if (r < 0)
                return r;
        }
        *out = loaded[i];
        return 0;
    }
    _cleanup_free_ char *known = xstrdup(mp_driver_name(0));
    for (size_t i = 1; mp_driver_name(i); i++) {
        char *more = xasprintf("%s, %s", known, mp_driver_name(i));
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
mp_driver_plan_step(const struct mp_driver *driver, struct mp_step_ctx *ctx,
                    struct mp_step_plan *plan, struct mp_error **err)
{
    mp_step_op op = mp_driver_step_op(driver, ctx->step);
    if (!op)
        return mp_error_input(err, ENOTSUP, "driver %s does not support %s", driver->name,
                              mp_step_name(ctx->step));
    return op(ctx, plan, err);
}

void
mp_step_plan_clear(struct mp_step_plan *plan)
{
    if (plan->state)
        (plan->free_state ? plan->free_state : free)(plan->state);
    *plan = (struct mp_step_plan){ 0 };
}
