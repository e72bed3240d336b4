/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "argv.h"
#include "option-table.h"
#include "tests/remove-tree.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Each test's own directory: bin/ holds fake emulators (the allow-list),
 * allowed/ is the one allowed directory, allowedxy/ and outside/ are not. */
static char tmp[64];
static char emulator[128]; /* tmp/bin/qemu-system-x86_64 */
static char pattern[128];  /* tmp/bin/qemu-system-* */
static char allowed[128];  /* tmp/allowed */
static char outside[128];  /* tmp/outside */
static char *emulators[3];
static char *allowed_paths[2];

static char *
tmp_path(const char *name)
{
    char *p = NULL;
    cr_assert_gt(asprintf(&p, "%s/%s", tmp, name), 0);
    return p;
}

static void
write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert_geq(fd, 0, "%s", path);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

static void
setup(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/migphase-test-argv-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    const char *dirs[] = { "bin", "allowed", "allowedxy", "outside" };
    for (size_t i = 0; i < 4; i++) {
        char *d = tmp_path(dirs[i]);
        cr_assert_eq(mkdir(d, 0755), 0);
        free(d);
    }
    snprintf(emulator, sizeof(emulator), "%s/bin/qemu-system-x86_64", tmp);
    snprintf(pattern, sizeof(pattern), "%s/bin/qemu-system-*", tmp);
    snprintf(allowed, sizeof(allowed), "%s/allowed", tmp);
    snprintf(outside, sizeof(outside), "%s/outside", tmp);
    write_file(emulator, "#!/bin/sh\n", 0755);
    emulators[0] = "/nonexistent/qemu-system-*";
    emulators[1] = pattern;
    emulators[2] = NULL;
    allowed_paths[0] = allowed;
    allowed_paths[1] = NULL;
}

/* Criterion shows a failed assertion in a suite's .fini, or even an abort
 * there, as a warning and still counts the test as passed: what this
 * cleanup must do is a test of its own (argv_cleanup below). */
static void
teardown(void)
{
    mp_test_remove_tree(tmp);
    if (access(tmp, F_OK) == 0)
        fprintf(stderr, "%s left behind\n", tmp);
}

TestSuite(argv, .init = setup, .fini = teardown);

/* The tests below leave symbolic links in the test directory, to a
 * directory outside it and to nothing: the cleanup removes them and the
 * whole directory, and nothing they point to. */
Test(argv_cleanup, removes_the_test_directory_and_follows_no_link)
{
    setup();
    char target[] = "/tmp/migphase-test-argv-target-XXXXXX";
    cr_assert_not_null(mkdtemp(target));
    _cleanup_free_ char *kept = xasprintf("%s/kept", target);
    write_file(kept, "outside the test directory\n", 0644);
    _cleanup_free_ char *to_dir = tmp_path("allowed/dir");
    _cleanup_free_ char *dangling = tmp_path("allowed/dangling");
    cr_assert_eq(symlink(target, to_dir), 0);
    cr_assert_eq(symlink("/tmp/migphase-test-argv-nothing/x", dangling), 0);

    teardown();
    bool removed = access(tmp, F_OK) != 0;
    bool target_kept = access(kept, F_OK) == 0;
    mp_test_remove_tree(target);
    cr_expect(removed, "%s left behind", tmp);
    cr_expect(target_kept, "%s, which a link pointed to, was removed", kept);
}

static char **
destination(char **source, char **rewrites, struct mp_error **err)
{
    struct qemu_argv_target target = { .qmp_socket = "/run/dst.qmp",
                                       .qmp_fd = -1,
                                       .pidfile = "/run/dst.pid",
                                       .rewrites = rewrites,
                                       .emulators = emulators,
                                       .allowed_paths = allowed_paths };
    char **out = NULL;
    if (qemu_argv_for_destination(source, &target, &out, err) < 0)
        return NULL;
    return out;
}

/* The command line is refused, with a message that says `text`. */
static void
assert_refused(char **source, char **rewrites, const char *text)
{
    struct mp_error *err = NULL;
    char **out = destination(source, rewrites, &err);
    cr_assert_null(out, "accepted %s %s", source[1], source[2] ? source[2] : "");
    cr_assert_not_null(err);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    cr_assert(strstr(err->message, text), "'%s' does not say '%s'", err->message, text);
    cr_assert_null(strchr(err->message, '\n'), "%s", err->message);
    mp_error_free(err);
}

static void
assert_accepted(char **source, char **rewrites)
{
    struct mp_error *err = NULL;
    char **out = destination(source, rewrites, &err);
    cr_assert_not_null(out, "%s", err ? err->message : "");
    mp_strv_free(out);
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
    char *src[] = { "/nonexistent/qemu-system-x86_64",
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
    const char *want[] = {
        emulator,   "-name",        "guest", "-m",   "512",
        "-S",       "-incoming",    "defer", "-qmp", "unix:/run/dst.qmp,server=on,wait=off",
        "-pidfile", "/run/dst.pid", NULL
    };
    assert_argv(out, want);
    mp_strv_free(out);
}

Test(argv, double_dash_options_are_the_same)
{
    char *src[] = {
        "/nonexistent/qemu-system-x86_64", "--qmp", "unix:/x", "--pidfile", "/p", "-m", "64", NULL
    };
    char **out = destination(src, NULL, NULL);
    const char *want[] = {
        emulator,    "-m",           "64",   "-S",
        "-incoming", "defer",        "-qmp", "unix:/run/dst.qmp,server=on,wait=off",
        "-pidfile",  "/run/dst.pid", NULL
    };
    assert_argv(out, want);
    mp_strv_free(out);
}

Test(argv, values_that_look_like_options_are_not_options)
{
    /* "-qmp" as the VM's name is a value, not a monitor to drop. */
    char *src[] = {
        "/nonexistent/qemu-system-x86_64", "-name", "-qmp", "-nographic", "-m", "64", NULL
    };
    char **out = destination(src, NULL, NULL);
    const char *want[] = { emulator,
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
    char *serial = NULL, *drive = NULL, *rw = NULL;
    cr_assert_gt(asprintf(&serial, "file:%s/serial.log", outside), 0);
    cr_assert_gt(asprintf(&drive, "file=%s/disk.img,format=raw", outside), 0);
    cr_assert_gt(asprintf(&rw, "%s/=%s/", outside, allowed), 0);
    char *src[] = { emulator, "-serial", serial, "-drive", drive, NULL };
    char *rewrites[] = { rw, NULL };
    char **out = destination(src, rewrites, NULL);
    cr_assert_not_null(out);
    char *want = NULL;
    cr_assert_gt(asprintf(&want, "file:%s/serial.log", allowed), 0);
    cr_assert_str_eq(out[2], want);
    free(want);
    cr_assert_gt(asprintf(&want, "file=%s/disk.img,format=raw", allowed), 0);
    cr_assert_str_eq(out[4], want);
    free(want);
    mp_strv_free(out);
    free(serial);
    free(drive);
    free(rw);
}

Test(argv, unsafe_command_lines_are_refused)
{
    struct mp_error *err = NULL;
    char *empty[] = { NULL };
    cr_assert_null(destination(empty, NULL, &err));
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    mp_error_free(err);

    err = NULL;
    char *readconfig[] = { emulator, "-readconfig", "/etc/vm.cfg", NULL };
    cr_assert_null(destination(readconfig, NULL, &err));
    cr_assert(strstr(err->message, "-readconfig"));
    mp_error_free(err);

    err = NULL;
    char *control[] = { emulator, "-name", "bad\nname", NULL };
    cr_assert_null(destination(control, NULL, &err));
    cr_assert(strstr(err->message, "control character"));
    mp_error_free(err);

    err = NULL;
    char *dangling[] = { emulator, "-m", NULL };
    cr_assert_null(destination(dangling, NULL, &err));
    cr_assert(strstr(err->message, "has no value"));
    mp_error_free(err);
}

Test(argv, existing_server_socket_needs_a_rewrite)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/serial.sock", allowed);
    write_file(path, "", 0600);
    char *value = NULL;
    cr_assert_gt(asprintf(&value, "socket,id=serial0,path=%s,server=on,wait=off", path), 0);
    char *src[] = { emulator, "-chardev", value, NULL };
    struct mp_error *err = NULL;
    cr_assert_null(destination(src, NULL, &err));
    cr_assert(strstr(err->message, "--rewrite"), "%s", err->message);
    mp_error_free(err);

    /* A client socket connects to something that exists: fine. */
    free(value);
    cr_assert_gt(asprintf(&value, "socket,id=vhost0,path=%s", path), 0);
    char *client[] = { emulator, "-chardev", value, NULL };
    char **out = destination(client, NULL, NULL);
    cr_assert_not_null(out);
    mp_strv_free(out);

    char *from = NULL;
    cr_assert_gt(asprintf(&from, "%s=%s.dst", path, path), 0);
    char *rewrites[] = { from, NULL };
    free(value);
    cr_assert_gt(asprintf(&value, "socket,id=serial0,path=%s,server=on,wait=off", path), 0);
    char *src2[] = { emulator, "-chardev", value, NULL };
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

Test(argv, emulator_is_this_hosts_own)
{
    char *path = NULL;
    struct mp_error *err = NULL;
    /* The source's directory does not matter once a pattern allows it:
     * the binary is the one of that name found here. */
    cr_assert_eq(qemu_emulator_for("/nonexistent/qemu-system-x86_64", emulators, &path, &err), 0);
    cr_assert_str_eq(path, emulator);
    free(path);

    char *bare[] = { "qemu-system-x86_64", "-m", "64", NULL };
    assert_refused(bare, NULL, "not an absolute path matching");
    char *shell[] = { "/bin/sh", "-c", "touch /tmp/pwned", NULL };
    assert_refused(shell, NULL, "refusing emulator /bin/sh");
    char *elsewhere[] = { "/usr/local/bin/qemu-system-x86_64", "-m", "64", NULL };
    assert_refused(elsewhere, NULL, "refusing emulator /usr/local/bin/qemu-system-x86_64");

    /* Allowed by the pattern, but nothing of that name can run here. */
    char *missing[] = { "/nonexistent/qemu-system-aarch64", NULL };
    assert_refused(missing, NULL, "no emulator named qemu-system-aarch64 is allowed on this host");
    char *not_exec = tmp_path("bin/qemu-system-arm");
    write_file(not_exec, "#!/bin/sh\n", 0644);
    char *arm[] = { "/nonexistent/qemu-system-arm", NULL };
    assert_refused(arm, NULL, "no emulator named qemu-system-arm");
    char *dir = tmp_path("bin/qemu-system-ppc");
    cr_assert_eq(mkdir(dir, 0755), 0);
    char *ppc[] = { "/nonexistent/qemu-system-ppc", NULL };
    assert_refused(ppc, NULL, "no emulator named qemu-system-ppc");
    /* FNM_PATHNAME: a star does not cross a slash. */
    char *deeper[] = { "/nonexistent/qemu-system-x/qemu-system-x86_64", NULL };
    assert_refused(deeper, NULL, "refusing emulator");
    free(not_exec);
    free(dir);
}

/* A value-less option must not swallow the next argument: whatever follows
 * it is an option of its own, and a monitor is dropped. */
Test(argv, value_less_options_do_not_hide_monitors)
{
    size_t n;
    const struct qemu_option *table = qemu_option_table(&n);
    size_t flags = 0;
    for (size_t i = 0; i < n; i++) {
        if (table[i].takes_value)
            continue;
        flags++;
        for (int dashes = 1; dashes <= 2; dashes++) {
            char *opt = NULL;
            cr_assert_gt(asprintf(&opt, "%s%s", dashes == 2 ? "-" : "", table[i].name), 0);
            char *src[] = { emulator, opt, "-qmp", "unix:/tmp/evil.qmp,server=on,wait=off", NULL };
            struct mp_error *err = NULL;
            char **out = destination(src, NULL, &err);
            if (!out) {
                cr_assert_eq(table[i].action, QEMU_OPT_REFUSE, "%s: %s", opt, err->message);
                mp_error_free(err);
            }
            for (size_t j = 0; out && out[j]; j++)
                cr_assert_null(strstr(out[j], "evil"), "%s smuggled %s", opt, out[j]);
            mp_strv_free(out);
            free(opt);
        }
    }
    cr_assert_geq(flags, 20);
    cr_assert(!qemu_option_takes_value("-singlestep"));
    cr_assert(!qemu_option_takes_value("--portrait"));
    char *src[] = { emulator,    "--singlestep", "--qmp", "unix:/tmp/evil.qmp",
                    "-portrait", "-monitor",     "stdio", NULL };
    char **out = destination(src, NULL, NULL);
    cr_assert_not_null(out);
    cr_assert_str_eq(out[1], "--singlestep");
    cr_assert_str_eq(out[2], "-portrait");
    cr_assert_str_eq(out[3], "-S");
    mp_strv_free(out);
}

Test(argv, refused_and_unknown_options)
{
    const char *refused[][2] = {
        { "-add-fd", "fd=3,set=2" },
        { "--add-fd", "fd=3,set=2" },
        { "-plugin", "/tmp/evil.so" },
        { "--plugin", "file=/tmp/evil.so" },
        { "-readconfig", "/etc/x" },
        { "-writeconfig", "/etc/x" },
        { "-set", "drive.d.file=/x" },
        { "-gdb", "tcp::1234" },
        { "-loadvm", "snap" },
        { "-chroot", "/" },
        { "-semihosting-config", "enable=on" },
        { "-qtest", "unix:/tmp/q" },
        { "-dump-vmstate", "/etc/x" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        char *src[] = { emulator, (char *)refused[i][0], (char *)refused[i][1], NULL };
        assert_refused(src, NULL, refused[i][0]);
    }
    char *s[] = { emulator, "-s", NULL };
    assert_refused(s, NULL, "gdbstub");
    char *unknown[] = { emulator, "-frobnicate", "x", NULL };
    assert_refused(unknown, NULL, "refusing -frobnicate: not an option this host knows");
    char *dropped[] = { emulator,     "-sandbox",  "off",         "--runas", "nobody",
                        "-daemonize", "-run-with", "user=nobody", NULL };
    char **out = destination(dropped, NULL, NULL);
    cr_assert_not_null(out);
    cr_assert_str_eq(out[1], "-S");
    mp_strv_free(out);
}

/* A command line with one option, OPT VALUE, where VALUE is fmt with "%s"
 * replaced by dir (and "%.0s" by nothing). */
static void
one_option(const char *opt, const char *fmt, const char *dir, bool accept, const char *text)
{
    char *bare = qemu_replace_all(fmt, "%.0s", "");
    char *value = qemu_replace_all(bare, "%s", dir);
    free(bare);
    char *src[] = { emulator, (char *)opt, value, NULL };
    if (accept)
        assert_accepted(src, NULL);
    else
        assert_refused(src, NULL, text);
    free(value);
}

Test(argv, files_must_be_under_allowed_paths)
{
    char *passwd = tmp_path("outside/passwd");
    write_file(passwd, "root:x:0:0\n", 0644);
    const char *cases[][2] = {
        { "-chardev", "file,id=c0,path=%s/passwd" },
        { "--chardev", "serial,id=c1,path=%s/passwd" },
        { "-chardev", "socket,id=c2,path=%s/s.sock" },
        { "-chardev", "null,id=c3,logfile=%s/log" },
        { "-drive", "file=%s/passwd,format=raw,if=none" },
        { "-drive", "if=none,file.filename=%s/passwd" },
        { "-blockdev", "driver=file,node-name=f,filename=%s/passwd" },
        { "-kernel", "%s/passwd" },
        { "-initrd", "%s/passwd" },
        { "-dtb", "%s/passwd" },
        { "-bios", "%s/passwd" },
        { "-pflash", "%s/passwd" },
        { "-L", "%s" },
        { "-hda", "%s/passwd" },
        { "-hdd", "%s/passwd" },
        { "-cdrom", "%s/passwd" },
        { "-fda", "%s/passwd" },
        { "-mtdblock", "%s/passwd" },
        { "-sd", "%s/passwd" },
        { "-option-rom", "%s/passwd,bootindex=1" },
        { "-acpitable", "file=%s/passwd" },
        { "-smbios", "file=%s/passwd" },
        { "-fw_cfg", "name=opt/x,file=%s/passwd" },
        { "-object", "memory-backend-file,id=m,size=1M,mem-path=%s/passwd" },
        { "-object", "secret,id=s,file=%s/passwd" },
        { "-object", "tls-creds-x509,id=t,dir=%s" },
        { "-object", "rng-random,id=r,filename=%s/passwd" },
        { "-object", "filter-dump,id=f,netdev=n,file=%s/dump" },
        { "-object", "authz-listfile,id=a,filename=%s/passwd" },
        { "-object", "{\"qom-type\":\"secret\",\"id\":\"s\",\"file\":\"%s/passwd\"}" },
        { "-mem-path", "%s" },
        { "-device", "virtio-net-pci,romfile=%s/passwd" },
        { "-device", "loader,file=%s/passwd" },
        { "-device", "{\"driver\":\"loader\",\"file\":\"%s/passwd\"}" },
        { "-global", "virtio-net-pci.romfile=%s/passwd" },
        { "-netdev", "stream,id=n,addr.type=unix,addr.path=%s/s" },
        { "-netdev", "dgram,id=n,local.type=unix,local.path=%s/s" },
        { "-netdev", "user,id=n,tftp=%s" },
        { "-fsdev", "local,id=f,path=%s,security_model=none" },
        { "-virtfs", "local,path=%s,mount_tag=t,security_model=none" },
        { "-audiodev", "wav,id=a,path=%s/out.wav" },
        { "-trace", "events=%s/passwd" },
        { "-trace", "enable=*,file=%s/trace" },
        { "-D", "%s/log" },
        { "-serial", "file:%s/passwd" },
        { "-parallel", "/dev/null%.0s" },
        { "-debugcon", "unix:%s/s.sock,server=off" },
        { "-tpmdev", "passthrough,id=t,path=%s/passwd" },
        { "-machine", "pc,dtb=%s/passwd" },
        { "-icount", "shift=auto,rr=record,rrfile=%s/rr" },
        { "-vnc", "unix:%s/vnc.sock" },
        { "-display", "vnc=unix:%s/vnc.sock" },
        { "-spice", "unix=on,addr=%s/spice.sock,disable-ticketing=on" },
        { "-spice", "port=5900,x509-dir=%s" },
        { "-machine", "microvm,kernel=%s/passwd" },
        { "-smbios", "type=11,path=%s/passwd" },
        { "-boot", "menu=on,splash=%s/passwd" },
        { "-device", "usb-host,hostdevice=%s/passwd" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        one_option(cases[i][0], cases[i][1], outside, false, "is not under an allowed directory");
        /* -parallel /dev/null is not under tmp/allowed either. */
        if (strcmp(cases[i][0], "-parallel") != 0)
            one_option(cases[i][0], cases[i][1], allowed, true, NULL);
    }
    free(passwd);

    /* The message names the argument, the file and the setting. */
    char *v = NULL;
    cr_assert_gt(asprintf(&v, "file,id=c0,path=%s/passwd", outside), 0);
    char *src[] = { emulator, "-chardev", v, NULL };
    char *want = NULL;
    cr_assert_gt(asprintf(&want,
                          "refusing -chardev %s: %s/passwd is not under an allowed directory "
                          "(allowed-paths = %s)",
                          v, outside, allowed),
                 0);
    assert_refused(src, NULL, want);
    free(want);
    free(v);
}

Test(argv, paths_compare_by_component_and_resolve_links)
{
    /* tmp/allowed does not allow tmp/allowedxy. */
    one_option("-kernel", "%sxy/vmlinuz", allowed, false, "not under an allowed directory");
    one_option("-kernel", "%s/../outside/vmlinuz", allowed, false, "resolves to");
    one_option("-kernel", "vmlinuz%.0s", allowed, false, "vmlinuz is not an absolute path");
    one_option("-kernel", "/proc/self/fd/3%.0s", allowed, false, "of whichever process");
    one_option("-kernel", "/dev/fd/3%.0s", allowed, false, "of whichever process");
    /* A file that does not exist yet: its directory counts. */
    one_option("-serial", "file:%s/new.log", allowed, true, NULL);
    one_option("-serial", "file:%s/nodir/new.log", allowed, false, "nor does its directory");

    /* A link inside the allowed directory to a file outside it. */
    char *link = tmp_path("allowed/disk.img");
    char *target = tmp_path("outside/secret");
    write_file(target, "secret\n", 0600);
    cr_assert_eq(symlink(target, link), 0);
    one_option("-drive", "file=%s/disk.img,format=raw", allowed, false, "resolves to");
    /* A link to a directory outside, and a dangling link QEMU would create. */
    char *dirlink = tmp_path("allowed/dir");
    cr_assert_eq(symlink(outside, dirlink), 0);
    one_option("-serial", "file:%s/dir/new.log", allowed, false, "resolves to");
    char *dangling = tmp_path("allowed/dangling");
    cr_assert_eq(symlink("/tmp/migphase-test-argv-nothing/x", dangling), 0);
    one_option("-serial", "file:%s/dangling", allowed, false, "symbolic link to nothing");
    free(link);
    free(target);
    free(dirlink);
    free(dangling);

    /* An allowed directory that is itself a link counts where it leads. */
    char *alias = tmp_path("alias");
    cr_assert_eq(symlink(allowed, alias), 0);
    one_option("-kernel", "%s/vmlinuz", alias, true, NULL);
    free(alias);
}

Test(argv, paths_are_checked_after_rewrites)
{
    char *kernel = NULL, *rw = NULL;
    cr_assert_gt(asprintf(&kernel, "%s/vmlinuz", allowed), 0);
    cr_assert_gt(asprintf(&rw, "%s/=%s/", allowed, outside), 0);
    char *src[] = { emulator, "-kernel", kernel, NULL };
    char *rewrites[] = { rw, NULL };
    assert_accepted(src, NULL);
    char *want = NULL;
    cr_assert_gt(asprintf(&want, "refusing -kernel %s/vmlinuz", outside), 0);
    assert_refused(src, rewrites, want);
    free(want);
    free(kernel);
    free(rw);
}

Test(argv, blockdev_json_and_protocols)
{
    one_option("-blockdev",
               "{\"driver\":\"qcow2\",\"node-name\":\"d\",\"file\":{\"driver\":\"file\","
               "\"filename\":\"%s/disk.qcow2\"}}",
               outside, false, "is not under an allowed directory");
    one_option("-blockdev",
               "{\"driver\":\"qcow2\",\"node-name\":\"d\",\"file\":{\"driver\":\"file\","
               "\"filename\":\"%s/disk.qcow2\"}}",
               allowed, true, NULL);
    /* file= of -blockdev names a node. */
    one_option("-blockdev", "driver=qcow2,node-name=d,file=f%.0s", allowed, true, NULL);
    one_option("-blockdev",
               "{\"driver\":\"file\",\"node-name\":\"f\",\"filename\":\"/etc/shadow\"}%.0s",
               allowed, false, "/etc/shadow is not under");
    one_option("-blockdev",
               "{\"driver\":\"raw\",\"file\":{\"driver\":\"host_device\",\"filename\":%.0s",
               allowed, false, "not a JSON object");
    one_option("-drive", "file=nbd:unix:/tmp/nbd.sock%.0s", allowed, false, "nbd: is a protocol");
    one_option("-drive", "file=json:{\"file.filename\":\"/etc/shadow\"}%.0s", allowed, false,
               "json: is a protocol");
    one_option("-hda", "fat:rw:/%.0s", allowed, false, "fat: is a protocol");
    one_option("-drive", "file=file:%s/disk.img", outside, false, "not under an allowed");
    one_option("-drive", "file=file:%s/disk.img", allowed, true, NULL);
}

Test(argv, netdev_scripts_helpers_and_descriptors)
{
    one_option("-netdev", "tap,id=n,script=/bin/x%.0s", allowed, false, "only script=no");
    one_option("-nic", "tap,downscript=/bin/x%.0s", allowed, false, "only downscript=no");
    one_option("--netdev", "tap,id=n,ifname=t0,script=no,downscript=no%.0s", allowed, true, NULL);
    one_option("-netdev", "{\"type\":\"tap\",\"id\":\"n\",\"script\":\"/bin/x\"}%.0s", allowed,
               false, "only script=no");
    one_option("-netdev", "bridge,id=n,helper=/bin/x%.0s", allowed, false, "helper=");
    one_option("-netdev", "tap,id=n,fd=3%.0s", allowed, false, "file descriptor");
    one_option("-netdev", "tap,id=n,vhost=on,vhostfds=3:4%.0s", allowed, false, "file descriptor");
    one_option("-chardev", "socket,id=c,fd=3%.0s", allowed, false, "file descriptor");
    one_option("-netdev", "user,id=n,guestfwd=tcp:10.0.2.100:1-cmd:/bin/sh%.0s", allowed, false,
               "runs a command");
    one_option("-net", "user,smb=%s", outside, false, "not under");
}

Test(argv, chardev_backends)
{
    one_option("-chardev", "pipe,id=p,path=%s/fifo", allowed, false, "pipe");
    one_option("-serial", "pipe:%s/fifo", allowed, false, "pipe:");
    one_option("-serial", "mon:stdio%.0s", allowed, false, "monitor");
    one_option("-serial", "tcp:127.0.0.1:4555,server=on,wait=off%.0s", allowed, true, NULL);
    one_option("-serial", "null%.0s", allowed, true, NULL);
    one_option("-serial", "/dev/ttyS0%.0s", allowed, false, "/dev/ttyS0 is not under");
    one_option("-serial", "weird:x%.0s", allowed, false, "not a character device");
    one_option("-object", "qtest,id=q,chardev=c%.0s", allowed, false, "qtest");
    one_option("-machine", "pc,dumpdtb=%s/x.dtb", allowed, false, "dumpdtb");
    one_option("-acpitable", "file=%s/a.aml:/etc/passwd", allowed, false,
               "/etc/passwd is not under");
    char *mods = NULL;
    cr_assert_gt(asprintf(&mods, "%s/mod1 arg=1,%s/mod2", allowed, outside), 0);
    char *src[] = { emulator, "-initrd", mods, NULL };
    assert_refused(src, NULL, "mod2 is not under");
    free(mods);
}

/* A VM that came through migphase carries its last Prepare's own objects
 * (TLS credentials in a directory since removed, the authorisation) and
 * monitor: the next Prepare drops them and adds its own. */
Test(argv, the_helpers_own_options_are_dropped)
{
    char *src[] = { "/nonexistent/qemu-system-x86_64",
                    "-m",
                    "64",
                    "-sandbox",
                    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
                    "-object",
                    "tls-creds-x509,id=migphase-tls,endpoint=server,verify-peer=on,"
                    "dir=/tmp/migphase-tls-gone",
                    "-object",
                    "{\"qom-type\":\"authz-list\",\"id\":\"migphase-authz\",\"policy\":\"deny\"}",
                    "-chardev",
                    "socket,id=migphase-qmp,fd=3,server=on,wait=off",
                    "-mon",
                    "chardev=migphase-qmp,mode=control",
                    NULL };
    struct mp_error *err = NULL;
    char **out = destination(src, NULL, &err);
    cr_assert_not_null(out, "%s", err ? err->message : "");
    const char *want[] = {
        emulator,    "-m",           "64",   "-S",
        "-incoming", "defer",        "-qmp", "unix:/run/dst.qmp,server=on,wait=off",
        "-pidfile",  "/run/dst.pid", NULL
    };
    assert_argv(out, want);
    mp_strv_free(out);
    /* Another id is the VM's own, and its files are checked as ever. */
    char *other[] = { "/nonexistent/qemu-system-x86_64", "-object",
                      "tls-creds-x509,id=vnc-tls,endpoint=server,dir=/tmp/migphase-tls-gone",
                      NULL };
    assert_refused(other, NULL, "not under an allowed directory");
}
