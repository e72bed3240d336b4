#include "config.h"

#include "argv.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

static char **
destination(char **source, char **rewrites, struct mp_error **err)
{
    struct qemu_argv_target target = {
        .qmp_socket = "/run/dst.qmp", .qmp_fd = -1, .pidfile = "/run/dst.pid", .rewrites = rewrites
    };
    char **out = NULL;
    if (qemu_argv_for_destination(source, &target, &out, err) < 0)
        return NULL;
    return out;
}

static void
assert_argv(char **got, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        cr_assert_not_null(got[i], "argv ends early at %zu, wanted %s", i, want[i]);
        cr_assert_str_eq(got[i], want[i], "argument %zu", i);
    }
    cr_assert_null(got[i], "extra argument %s", got[i]);
}

Test(argv, monitors_pidfile_incoming_are_replaced)
{
    char *src[] = { "qemu-system-x86_64",
                    "-name",
                    "guest",
                    "-qmp",
                    "unix:/run/src.qmp,server=on,wait=off",
                    "-chardev",
                    "socket,id=mon1,path=/nonexistent/hmp.sock,server=on,wait=off",
                    "-mon",
                    "chardev=mon1,mode=readline",
                    "-pidfile",
                    "/run/src.pid",
                    "-daemonize",
                    "-incoming",
                    "tcp:0:4444",
                    "-S",
                    "-m",
                    "512",
                    NULL };
    struct mp_error *err = NULL;
    char **out = destination(src, NULL, &err);
    cr_assert_not_null(out, "%s", err ? err->message : "");
    const char *want[] = { "qemu-system-x86_64",
                           "-name",
                           "guest",
                           "-m",
                           "512",
                           "-S",
                           "-incoming",
                           "defer",
                           "-qmp",
                           "unix:/run/dst.qmp,server=on,wait=off",
                           "-pidfile",
                           "/run/dst.pid",
                           NULL };
    assert_argv(out, want);
    mp_strv_free(out);
}

Test(argv, double_dash_options_are_the_same)
{
    char *src[] = { "qemu", "--qmp", "unix:/x", "--pidfile", "/p", "-m", "64", NULL };
    char **out = destination(src, NULL, NULL);
    const char *want[] = {
        "qemu",      "-m",           "64",   "-S",
        "-incoming", "defer",        "-qmp", "unix:/run/dst.qmp,server=on,wait=off",
        "-pidfile",  "/run/dst.pid", NULL
    };
    assert_argv(out, want);
    mp_strv_free(out);
}

Test(argv, values_that_look_like_options_are_not_options)
{
    /* "-qmp" as the VM's name is a value, not a monitor to drop. */
    char *src[] = { "qemu", "-name", "-qmp", "-nographic", "-m", "64", NULL };
    char **out = destination(src, NULL, NULL);
    const char *want[] = { "qemu",
                           "-name",
                           "-qmp",
                           "-nographic",
                           "-m",
                           "64",
                           "-S",
                           "-incoming",
                           "defer",
                           "-qmp",
                           "unix:/run/dst.qmp,server=on,wait=off",
                           "-pidfile",
                           "/run/dst.pid",
                           NULL };
    assert_argv(out, want);
    mp_strv_free(out);
}

Test(argv, rewrites_apply_to_every_argument)
{
    char *src[] = { "qemu",
                    "-serial",
                    "file:/var/src/serial.log",
                    "-drive",
                    "file=/var/src/disk.img,format=raw",
                    NULL };
    char *rewrites[] = { "/var/src/=/var/dst/", NULL };
    char **out = destination(src, rewrites, NULL);
    cr_assert_str_eq(out[2], "file:/var/dst/serial.log");
    cr_assert_str_eq(out[4], "file=/var/dst/disk.img,format=raw");
    mp_strv_free(out);
}

Test(argv, unsafe_command_lines_are_refused)
{
    struct mp_error *err = NULL;
    char *empty[] = { NULL };
    cr_assert_null(destination(empty, NULL, &err));
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    mp_error_free(err);

    err = NULL;
    char *readconfig[] = { "qemu", "-readconfig", "/etc/vm.cfg", NULL };
    cr_assert_null(destination(readconfig, NULL, &err));
    cr_assert(strstr(err->message, "-readconfig"));
    mp_error_free(err);

    err = NULL;
    char *control[] = { "qemu", "-name", "bad\nname", NULL };
    cr_assert_null(destination(control, NULL, &err));
    cr_assert(strstr(err->message, "control character"));
    mp_error_free(err);

    err = NULL;
    char *dangling[] = { "qemu", "-m", NULL };
    cr_assert_null(destination(dangling, NULL, &err));
    cr_assert(strstr(err->message, "has no value"));
    mp_error_free(err);
}

Test(argv, existing_server_socket_needs_a_rewrite)
{
    char path[] = "/tmp/migphase-test-argv-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char *value = NULL;
    cr_assert_gt(asprintf(&value, "socket,id=serial0,path=%s,server=on,wait=off", path), 0);
    char *src[] = { "qemu", "-chardev", value, NULL };
    struct mp_error *err = NULL;
    cr_assert_null(destination(src, NULL, &err));
    cr_assert(strstr(err->message, "--rewrite"), "%s", err->message);
    mp_error_free(err);

    /* A client socket connects to something that exists: fine. */
    free(value);
    cr_assert_gt(asprintf(&value, "socket,id=vhost0,path=%s", path), 0);
    char *client[] = { "qemu", "-chardev", value, NULL };
    char **out = destination(client, NULL, NULL);
    cr_assert_not_null(out);
    mp_strv_free(out);

    char *from = NULL;
    cr_assert_gt(asprintf(&from, "%s=%s.dst", path, path), 0);
    char *rewrites[] = { from, NULL };
    free(value);
    cr_assert_gt(asprintf(&value, "socket,id=serial0,path=%s,server=on,wait=off", path), 0);
    char *src2[] = { "qemu", "-chardev", value, NULL };
    out = destination(src2, rewrites, NULL);
    cr_assert_not_null(out);
    mp_strv_free(out);
    free(from);
    free(value);
    unlink(path);
}

Test(argv, replace_all)
{
    char *s = qemu_replace_all("a/x/a/x", "/x", "/yy");
    cr_assert_str_eq(s, "a/yy/a/yy");
    free(s);
    s = qemu_replace_all("nothing", "zz", "q");
    cr_assert_str_eq(s, "nothing");
    free(s);
}
