/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "privs.h"

#include <criterion/criterion.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* A field of /proc/self/status, as the kernel reports it: the independent
 * view of what mp_privs_drop did. */
static unsigned long long
status_field(const char *name, int base)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    unsigned long long v = ~0ULL;
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':')
            v = strtoull(line + n + 1, NULL, base);
    fclose(f);
    return v;
}

/* Run the drop in a child so the test process keeps its own privileges. */
static int
in_child(uint64_t keep, const char *user, void (*check)(uint64_t))
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct mp_error *err = NULL;
        if (mp_privs_drop(keep, 0, user, &err) < 0) {
            fprintf(stderr, "%s\n", err->message);
            _exit(10);
        }
        check(keep);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void
expect_exactly(uint64_t keep)
{
    if (status_field("CapEff", 16) != keep || status_field("CapPrm", 16) != keep ||
        status_field("CapInh", 16) != 0 || status_field("CapBnd", 16) != keep ||
        status_field("NoNewPrivs", 10) != 1)
        _exit(20);
}

static void
expect_user_nobody(uint64_t keep)
{
    expect_exactly(keep);
    struct passwd *pw = getpwnam("nobody");
    if (!pw || getuid() != pw->pw_uid || geteuid() != pw->pw_uid)
        _exit(21);
}

static void
skip_unless_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root: a helper started as root is what this tests");
}

Test(privs, root_helper_keeps_no_capability_for_qemu)
{
    skip_unless_root();
    /* The QEMU driver declares no capability. */
    cr_assert_eq(in_child(0, NULL, expect_exactly), 0);
}

Test(privs, declared_capabilities_are_kept_and_nothing_else)
{
    skip_unless_root();
    uint64_t keep = (1ULL << CAP_SYS_ADMIN) | (1ULL << CAP_NET_ADMIN);
    cr_assert_eq(in_child(keep, NULL, expect_exactly), 0);
}

Test(privs, change_to_a_service_user)
{
    skip_unless_root();
    if (!getpwnam("nobody"))
        cr_skip_test("no user 'nobody' on this machine");
    cr_assert_eq(in_child(0, "nobody", expect_user_nobody), 0);
}

Test(privs, unknown_user_is_an_input_error)
{
    skip_unless_root();
    struct mp_error *err = NULL;
    pid_t pid = fork();
    if (pid == 0)
        _exit(mp_privs_drop(0, 0, "no-such-user-migphase", &err) < 0 && err->kind == MP_ERR_INPUT
                  ? 0
                  : 1);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(privs, unprivileged_caller_still_gets_no_new_privs)
{
    if (geteuid() == 0)
        cr_skip_test("runs as an unprivileged user only");
    cr_assert_eq(in_child(0, NULL, expect_exactly), 0);
}

static void
expect_hook_capability(uint64_t keep)
{
    uint64_t net_admin = 1ULL << CAP_NET_ADMIN;
    if (status_field("CapEff", 16) != keep || status_field("CapPrm", 16) != (keep | net_admin) ||
        status_field("CapInh", 16) != net_admin || status_field("NoNewPrivs", 10) != 1)
        _exit(22);
}

static int
in_child_for_hooks(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct mp_error *err = NULL;
        if (mp_privs_drop(0, 1ULL << CAP_NET_ADMIN, NULL, &err) < 0)
            _exit(10);
        expect_hook_capability(0);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

Test(privs, hook_capabilities_are_inheritable_not_effective)
{
    skip_unless_root();
    cr_assert_eq(in_child_for_hooks(), 0);
}

Test(privs, capability_names_parse)
{
    uint64_t mask = 0;
    struct mp_error *err = NULL;
    cr_assert_eq(mp_privs_parse("net_admin,CAP_SYS_ADMIN", &mask, &err), 0);
    cr_assert_eq(mask, (1ULL << CAP_NET_ADMIN) | (1ULL << CAP_SYS_ADMIN));
    cr_assert_lt(mp_privs_parse("net_admin,teleport", &mask, &err), 0);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    mp_error_free(err);
}
