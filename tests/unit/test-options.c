/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "journal.h"
#include "options.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int
parse(struct mp_options *o, enum mp_program program, struct mp_error **err, ...)
{
    char *argv[32] = { "migphase-test" };
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    return mp_options_parse(o, program, "usage", argc, argv, err);
}

static char *
write_config(const char *text)
{
    char *path = strdup("/tmp/migphase-test-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(options, defaults)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    unsetenv("MIGPHASE_STATE_DIR");
    cr_assert_gt(parse(&o, MP_PROG_PREPARE, &err, "--config", "/dev/null", NULL), 0);
    cr_assert_str_eq(o.in_path, "-");
    cr_assert_str_eq(o.out_path, "-");
    cr_assert_str_eq(o.state_dir, MP_JOURNAL_DEFAULT_STATE_DIR);
    cr_assert_str_eq(o.driver, "qemu");
    cr_assert_eq(o.port_lo, 49152);
    cr_assert_eq(o.port_hi, 49215);
    cr_assert(o.params.live);
    mp_options_free(&o);
}

Test(options, state_dir_from_environment_and_command_line)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    setenv("MIGPHASE_STATE_DIR", "/tmp/from-env", 1);
    cr_assert_gt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", NULL), 0);
    cr_assert_str_eq(o.state_dir, "/tmp/from-env");
    mp_options_free(&o);
    cr_assert_gt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--state-dir", "/x", NULL),
                 0);
    cr_assert_str_eq(o.state_dir, "/x");
    mp_options_free(&o);
    unsetenv("MIGPHASE_STATE_DIR");
}

Test(options, unknown_option_is_an_input_error)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_lt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--bogus", NULL), 0);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    cr_assert_str_eq(err->message, "unknown option '--bogus' (see --help)");
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, option_of_another_step_is_refused)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    /* --cancelled belongs to Finish and Confirm, not Begin. */
    cr_assert_lt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--cancelled", NULL), 0);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, missing_value)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_lt(parse(&o, MP_PROG_PREPARE, &err, "--config", "/dev/null", "--qmp", NULL), 0);
    cr_assert_str_eq(err->message, "option '--qmp' needs a value");
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, values_are_checked)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_lt(
        parse(&o, MP_PROG_PREPARE, &err, "--config", "/dev/null", "--port-range", "9-3", NULL), 0);
    mp_error_free(err);
    mp_options_free(&o);
    err = NULL;
    cr_assert_lt(
        parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--bandwidth", "10x", NULL), 0);
    cr_assert_str_eq(err->message, "--bandwidth needs a whole number, not '10x'");
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, rewrites_accumulate)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_gt(parse(&o, MP_PROG_PREPARE, &err, "--config", "/dev/null", "--rewrite", "/a=/b",
                       "--rewrite", "x=", NULL),
                 0);
    cr_assert_str_eq(o.rewrites[0], "/a=/b");
    cr_assert_str_eq(o.rewrites[1], "x=");
    cr_assert_null(o.rewrites[2]);
    mp_options_free(&o);
    cr_assert_lt(parse(&o, MP_PROG_PREPARE, &err, "--config", "/dev/null", "--rewrite", "=x", NULL),
                 0);
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, config_file_then_command_line)
{
    char *path = write_config("# defaults for this host\n"
                              "port-range = 50000-50010\n"
                              "bandwidth = 100\n"
                              "listen=10.0.0.2\n");
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_gt(parse(&o, MP_PROG_PREPARE, &err, "--config", path, "--listen", "127.0.0.1", NULL),
                 0);
    cr_assert_eq(o.port_lo, 50000);
    cr_assert_eq(o.port_hi, 50010);
    cr_assert_str_eq(o.listen_addr, "127.0.0.1");
    mp_options_free(&o);
    unlink(path);
    free(path);
}

Test(options, config_file_errors_name_the_line)
{
    char *path = write_config("state-dir = /tmp\nnonsense = 1\n");
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_lt(parse(&o, MP_PROG_BEGIN, &err, "--config", path, NULL), 0);
    cr_assert(strstr(err->message, ":2: unknown setting 'nonsense'"), "%s", err->message);
    mp_error_free(err);
    mp_options_free(&o);
    unlink(path);
    free(path);
}

Test(options, missing_explicit_config_is_an_error)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_lt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/nonexistent/migphase.conf", NULL), 0);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, positional_arguments_only_for_status)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_gt(parse(&o, MP_PROG_STATUS, &err, "--config", "/dev/null", "guest", NULL), 0);
    cr_assert_str_eq(o.args[0], "guest");
    mp_options_free(&o);
    cr_assert_lt(parse(&o, MP_PROG_FINISH, &err, "--config", "/dev/null", "guest", NULL), 0);
    mp_error_free(err);
    mp_options_free(&o);
}

Test(options, storage_copy)
{
    char *path = write_config("shared-paths = /srv/san /dev/mapper/san0\n");
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_gt(parse(&o, MP_PROG_BEGIN, &err, "--config", path, "--copy-storage", "incremental",
                       "--disks", "disk0,disk1", "--unsafe", NULL),
                 0);
    cr_assert_eq(o.params.copy_storage, MP_COPY_STORAGE_INCREMENTAL);
    cr_assert_str_eq(o.disks, "disk0,disk1");
    cr_assert(o.unsafe);
    cr_assert_str_eq(o.shared_paths[1], "/dev/mapper/san0");
    mp_options_free(&o);
    cr_assert_lt(
        parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--copy-storage", "some", NULL), 0);
    cr_assert_str_eq(err->message, "--copy-storage takes all, incremental or none, not 'some'");
    mp_error_free(err);
    mp_options_free(&o);
    err = NULL;
    /* What the source's disks are is the host's own setting. */
    cr_assert_lt(
        parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--shared-paths", "/x", NULL), 0);
    mp_error_free(err);
    mp_options_free(&o);
    unlink(path);
    free(path);
}

Test(options, tuning_is_parsed)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_gt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--parallel", "4",
                       "--compress", "zstd", "--xbzrle", "64M", "--auto-converge",
                       "--throttle-initial", "30", "--throttle-step", "5", NULL),
                 0, "%s", err ? err->message : "");
    cr_expect_eq(o.params.tuning.parallel, 4);
    cr_expect_eq(o.params.tuning.compress, MP_COMPRESS_ZSTD);
    cr_expect_eq(o.params.tuning.xbzrle_bytes, 64ull << 20);
    cr_expect(o.params.tuning.auto_converge);
    cr_expect_eq(o.params.tuning.throttle_initial, 30);
    cr_expect_eq(o.params.tuning.throttle_step, 5);
    mp_options_free(&o);
    cr_assert_gt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", NULL), 0);
    cr_expect_eq(o.params.tuning.parallel, 0);
    cr_expect_eq(o.params.tuning.throttle_initial, MP_TUNING_THROTTLE_INITIAL);
    cr_expect_eq(o.params.tuning.throttle_step, MP_TUNING_THROTTLE_STEP);
    mp_options_free(&o);
}

/* --postcopy-after-precopy allows postcopy too; what postcopy cannot go
 * with is refused with one line. */
Test(options, postcopy_is_parsed_and_checked)
{
    struct mp_options o;
    struct mp_error *err = NULL;
    cr_assert_gt(
        parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", "--postcopy-after-precopy", NULL),
        0, "%s", err ? err->message : "");
    cr_expect(o.params.tuning.postcopy);
    cr_expect(o.params.tuning.postcopy_after_precopy);
    mp_options_free(&o);
    static const char *const refused[][3] = {
        { "--postcopy", "--offline", "--postcopy is for live migrations, not --offline" },
        { "--postcopy", "--parallel=2",
          "postcopy and parallel channels do not go together (QEMU's multifd has no postcopy): "
          "drop --parallel or --postcopy" },
        { "--postcopy", "--copy-storage=all",
          "--postcopy cannot be combined with --copy-storage: the disks' mirrors complete only "
          "at a pre-copy switch-over" },
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cr_assert_lt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", refused[i][0],
                           refused[i][1], NULL),
                     0, "%s", refused[i][1]);
        cr_expect_eq(err->kind, MP_ERR_INPUT);
        cr_expect_str_eq(err->message, refused[i][2]);
        mp_error_free(steal_ptr(&err));
        mp_options_free(&o);
    }
}

/* Each refused with one line that names what is wrong. */
Test(options, tuning_is_checked)
{
    static const struct {
        const char *option, *value, *message;
    } cases[] = {
        { "--parallel", "65", "parallel channels: 65 is not within 1-64" },
        { "--compress", "zstd",
          "compression (zstd) is for parallel channels only: give "
          "--parallel N" },
        { "--compress", "lz4", "--compress takes none, zlib or zstd, not 'lz4'" },
        { "--xbzrle", "3M",
          "XBZRLE cache: 3145728 bytes is not a power of two within 1 MiB-1 TiB" },
        { "--xbzrle", "64Q", "--xbzrle needs a size such as 64M, not '64Q'" },
        { "--throttle-initial", "100",
          "throttle: initial 100% and step 10% must each be within "
          "1-99" },
        { "--throttle-step", "0", "throttle: initial 20% and step 0% must each be within 1-99" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mp_options o;
        struct mp_error *err = NULL;
        cr_assert_lt(parse(&o, MP_PROG_BEGIN, &err, "--config", "/dev/null", cases[i].option,
                           cases[i].value, NULL),
                     0, "%s %s", cases[i].option, cases[i].value);
        cr_expect_eq(err->kind, MP_ERR_INPUT);
        cr_expect_str_eq(err->message, cases[i].message);
        mp_error_free(err);
        mp_options_free(&o);
    }
}
