/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the site hooks: run-parts' naming rules and order, the cleared
 * environment, the cookie on stdin, what hooks may print, vetoes and their
 * undo calls, failures after the point of no return, time and output bounds,
 * and the features a hooks directory declares. Hooks are small shell scripts
 * written into a fresh directory for each test. */
#include "config.h"

#include "hooks.h"
#include "tests/remove-tree.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char hooks_dir[64];
static char *cookie_xml;
static size_t cookie_len;

static struct mp_cookie *
begin_cookie(void)
{
    struct mp_cookie *c = mp_cookie_new(MP_STEP_BEGIN);
    c->migration_id = xstrdup("6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c");
    c->driver = xstrdup("qemu");
    c->domain_name = xstrdup("vm1");
    c->domain_uuid = xstrdup("2b7e1516-28ae-4d2a-a6f7-15880912cf4f");
    c->source.hostname = xstrdup("src.example");
    return c;
}

static void
setup(void)
{
    /* As the helpers do: a hook that does not read its stdin is fine. */
    signal(SIGPIPE, SIG_IGN);
    strcpy(hooks_dir, "/tmp/test-hooks-XXXXXX");
    cr_assert_not_null(mkdtemp(hooks_dir));
    struct mp_cookie *c = begin_cookie();
    struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_format(c, &cookie_xml, &cookie_len, &err), 0);
    mp_cookie_free(c);
}

static void
teardown(void)
{
    mp_test_remove_tree(hooks_dir);
    free(cookie_xml);
}

TestSuite(hooks, .init = setup, .fini = teardown, .timeout = 30);

/* Path of a file in the test's directory, newly allocated. */
static char *
at(const char *name)
{
    return xasprintf("%s/%s", hooks_dir, name);
}

static void
write_file(const char *name, const char *text, mode_t mode)
{
    _cleanup_free_ char *path = at(name);
    _cleanup_free_ char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    cr_assert_eq(mp_mkdir_p(dir, 0755), 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

/* A shell hook in <step>.d; body runs with $LOG naming the shared log. */
static void
write_hook(const char *step, const char *name, const char *body)
{
    _cleanup_free_ char *rel = xasprintf("%s.d/%s", step, name);
    _cleanup_free_ char *log = at("log");
    _cleanup_free_ char *text = xasprintf("#!/bin/sh\nLOG=%s\n%s\n", log, body);
    write_file(rel, text, 0755);
}

static void
make_dir(const char *name)
{
    _cleanup_free_ char *path = at(name);
    cr_assert_eq(mkdir(path, 0755), 0, "%s: %s", path, strerror(errno));
}

static char *
read_text(const char *name)
{
    _cleanup_free_ char *path = at(name);
    char *text = NULL;
    if (mp_read_file(path, 1 << 20, &text, NULL, NULL) < 0)
        return xstrdup("");
    return text;
}

static struct mp_hook_run
make_run(enum mp_step step)
{
    return (struct mp_hook_run){
        .hooks_dir = hooks_dir,
        .step = step,
        .role = mp_step_role(step),
        .domain = "vm1",
        .uuid = "2b7e1516-28ae-4d2a-a6f7-15880912cf4f",
        .migration_id = "6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c",
        .peer_host = "dst.example",
        .outcome = MP_OUTCOME_NONE,
        .cookie = cookie_xml,
        .cookie_len = cookie_len,
        .timeout_ms = 10000,
    };
}

static const struct mp_extension *
find_extension(const struct mp_cookie *c, const char *name)
{
    for (size_t i = 0; i < c->n_extensions; i++)
        if (strcmp(c->extensions[i].name, name) == 0)
            return &c->extensions[i];
    return NULL;
}

/* Run a step's hooks into a fresh cookie derived from Begin's. */
static int
run_step(enum mp_step step, struct mp_cookie **out, struct mp_error **err)
{
    struct mp_cookie *base = begin_cookie();
    *out = step == MP_STEP_BEGIN ? base : mp_cookie_derive(base, step);
    if (step != MP_STEP_BEGIN)
        mp_cookie_free(base);
    struct mp_hook_run run = make_run(step);
    return mp_hooks_run(&run, *out, err);
}

Test(hooks, missing_directory_means_no_hooks)
{
    struct mp_hook_run run = make_run(MP_STEP_PREPARE);
    run.hooks_dir = "/nonexistent/migphase-hooks";
    struct mp_error *err = NULL;
    cr_assert_eq(mp_hooks_run(&run, NULL, &err), 0);
    cr_assert_null(err);
}

/* Begin makes the hooks' cookie only when the step's directory is there:
 * an empty or unreadable one is still "there" (mp_hooks_run says why). */
Test(hooks, step_directory_absent_only_when_missing)
{
    cr_assert(mp_hooks_step_dir_absent("/nonexistent/migphase-hooks", MP_STEP_BEGIN));
    cr_assert(mp_hooks_step_dir_absent(hooks_dir, MP_STEP_BEGIN));
    make_dir("begin.d");
    cr_assert_not(mp_hooks_step_dir_absent(hooks_dir, MP_STEP_BEGIN));
    cr_assert(mp_hooks_step_dir_absent(hooks_dir, MP_STEP_PREPARE));
    write_file("not-a-dir", "", 0644);
    _cleanup_free_ char *file = at("not-a-dir");
    cr_assert(mp_hooks_step_dir_absent(file, MP_STEP_BEGIN));
}

Test(hooks, run_parts_names_and_lexical_order)
{
    write_hook("begin", "20-second", "echo 20 >> $LOG");
    write_hook("begin", "10-first", "echo 10 >> $LOG");
    write_hook("begin", "10_First-2", "echo 10_F >> $LOG");
    write_hook("begin", "bad.name", "echo bad.name >> $LOG");
    write_hook("begin", "backup~", "echo backup >> $LOG");
    write_hook("begin", ".hidden", "echo hidden >> $LOG");
    write_file("begin.d/30-not-executable", "#!/bin/sh\necho noexec >> $LOG\n", 0644);
    make_dir("begin.d/40-directory");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_BEGIN, &out, &err), 0);
    _cleanup_free_ char *log = read_text("log");
    /* Byte order: '-' before '_'. Bad names, non-executables and directories
     * are skipped. */
    cr_assert_str_eq(log, "10\n10_F\n20\n");
    mp_cookie_free(out);
}

Test(hooks, byte_order_not_locale)
{
    write_hook("begin", "b", "echo b >> $LOG");
    write_hook("begin", "B", "echo B >> $LOG");
    write_hook("begin", "a-1", "echo a-1 >> $LOG");
    write_hook("begin", "a_1", "echo a_1 >> $LOG");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_BEGIN, &out, &err), 0);
    _cleanup_free_ char *log = read_text("log");
    cr_assert_str_eq(log, "B\na-1\na_1\nb\n");
    mp_cookie_free(out);
}

Test(hooks, cleared_environment_with_migration_variables)
{
    setenv("MIGPHASE_LEAK_CHECK", "leaked", 1);
    write_hook("finish", "10-env", "env | sort > $LOG");
    struct mp_hook_run run = make_run(MP_STEP_FINISH);
    run.outcome = MP_OUTCOME_SUCCESS;
    run.vm_user = "migphase-qemu";
    cr_assert_eq(mp_hooks_run(&run, NULL, NULL), 0);
    _cleanup_free_ char *env = read_text("log");
    /* /bin/sh adds PWD (and maybe SHLVL or _) of its own. */
    cr_assert_not_null(strstr(env, "MIGPHASE_DOMAIN=vm1\n"), "%s", env);
    cr_assert_not_null(strstr(env, "MIGPHASE_ID=6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c\n"));
    cr_assert_not_null(strstr(env, "MIGPHASE_OUTCOME=success\n"));
    cr_assert_not_null(strstr(env, "MIGPHASE_PEER_HOST=dst.example\n"));
    cr_assert_not_null(strstr(env, "MIGPHASE_ROLE=destination\n"));
    cr_assert_not_null(strstr(env, "MIGPHASE_STEP=finish\n"));
    cr_assert_not_null(strstr(env, "MIGPHASE_UUID=2b7e1516-28ae-4d2a-a6f7-15880912cf4f\n"));
    cr_assert_not_null(strstr(env, "MIGPHASE_VM_USER=migphase-qemu\n"), "%s", env);
    cr_assert_not_null(strstr(env, "MIGPHASE_MANAGER=migphase\n"), "%s", env);
    cr_assert_not_null(
        strstr(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    cr_assert_null(strstr(env, "MIGPHASE_LEAK_CHECK"), "%s", env);
    cr_assert_null(strstr(env, "HOME="), "%s", env);
    int vars = 0;
    for (const char *p = env; (p = strstr(p, "MIGPHASE_")); p++)
        vars++;
    cr_assert_eq(vars, 9, "%s", env);
    unsetenv("MIGPHASE_LEAK_CHECK");
}

Test(hooks, unknown_values_are_set_empty)
{
    write_hook("begin", "10-env", "env > $LOG");
    struct mp_hook_run run = make_run(MP_STEP_BEGIN);
    run.peer_host = NULL;
    run.uuid = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(mp_hooks_run(&run, NULL, &err), 0);
    _cleanup_free_ char *env = read_text("log");
    cr_assert_not_null(strstr(env, "MIGPHASE_PEER_HOST=\n"), "%s", env);
    cr_assert_not_null(strstr(env, "MIGPHASE_UUID=\n"), "%s", env);
    cr_assert_not_null(strstr(env, "MIGPHASE_OUTCOME=\n"), "%s", env);
    cr_assert_not_null(strstr(env, "MIGPHASE_ROLE=source\n"), "%s", env);
}

Test(hooks, cookie_on_stdin)
{
    write_hook("prepare", "10-stdin", "cat > $LOG");
    write_hook("prepare", "20-ignores-stdin", "exit 0");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_PREPARE, &out, &err), 0, "%s", err ? err->message : "");
    _cleanup_free_ char *got = read_text("log");
    cr_assert_str_eq(got, cookie_xml);
    mp_cookie_free(out);
}

Test(hooks, extensions_and_features_go_into_the_cookie)
{
    write_file("features.d/lease", "", 0644);
    write_hook("begin", "10-lease",
               "cat <<'EOF'\n"
               "<extension name=\"lease\"><lease token=\"abc\" holder=\"src\"/></extension>\n"
               "<feature name=\"lease\" mandatory=\"yes\"/>\n"
               "EOF");
    write_hook("begin", "20-net",
               "echo '<extension name=\"network\">  <tap name=\"t0\" bridge=\"br0\"/>"
               "<!-- a comment --> text &amp; more</extension>'");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_BEGIN, &out, &err), 0, "%s", err ? err->message : "");
    const struct mp_extension *lease = find_extension(out, "lease");
    cr_assert_not_null(lease);
    cr_assert_str_eq(lease->hook, "begin:10-lease");
    cr_assert_str_eq(lease->content, "<lease token=\"abc\" holder=\"src\"/>");
    const struct mp_extension *net = find_extension(out, "network");
    cr_assert_not_null(net);
    cr_assert_str_eq(net->hook, "begin:20-net");
    cr_assert_str_eq(net->content,
                     "  <tap name=\"t0\" bridge=\"br0\"/><!-- a comment --> text &amp; more");
    cr_assert_eq(out->n_features, 1);
    cr_assert_str_eq(out->features[0].name, "lease");
    cr_assert(out->features[0].mandatory);

    /* The next step's reader sees them, and needs "lease" to be known. */
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    cr_assert_eq(mp_cookie_format(out, &xml, &len, &err), 0);
    struct mp_cookie *back = NULL;
    cr_assert_lt(mp_cookie_parse(xml, len, NULL, &back, &err), 0);
    cr_assert_eq(err->errnum, ENOTSUP);
    mp_error_free(err);
    err = NULL;
    _cleanup_strv_ char **known = mp_hooks_known_features(hooks_dir);
    cr_assert_eq(mp_cookie_parse(xml, len, (const char *const *)known, &back, &err), 0);
    cr_assert_str_eq(find_extension(back, "lease")->hook, "begin:10-lease");
    mp_cookie_free(back);
    mp_cookie_free(out);
}

Test(hooks, later_extension_replaces_earlier_one_of_the_same_name)
{
    write_hook("begin", "10-a", "echo '<extension name=\"lease\">old</extension>'");
    write_hook("begin", "20-b", "echo '<extension name=\"lease\">new</extension>'");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_BEGIN, &out, &err), 0, "%s", err ? err->message : "");
    cr_assert_eq(out->n_extensions, 1);
    cr_assert_str_eq(out->extensions[0].content, "new");
    cr_assert_str_eq(out->extensions[0].hook, "begin:20-b");
    mp_cookie_free(out);
}

/* A hook that prints out, then exits 0, must be refused with a message
 * containing want, and leave the cookie as it was. */
static void
expect_bad_output(const char *output, const char *want)
{
    _cleanup_free_ char *body = xasprintf("cat <<'EOF'\n%s\nEOF", output);
    write_hook("prepare", "10-bad", body);
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_lt(run_step(MP_STEP_PREPARE, &out, &err), 0, "accepted: %s", output);
    cr_assert_not_null(strstr(err->message, "hook 10-bad vetoed the step"), "%s", err->message);
    cr_assert_not_null(strstr(err->message, want), "%s", err->message);
    cr_assert_eq(err->kind, MP_ERR_FAILED);
    cr_assert_eq(out->n_extensions, 0);
    cr_assert_eq(out->n_features, 0);
    mp_error_free(err);
    mp_cookie_free(out);
}

Test(hooks, output_other_than_extensions_is_refused)
{
    expect_bad_output("hello", "line 1");
    expect_bad_output("<extension name=\"x\">unclosed", "line");
    expect_bad_output("<outcome result=\"success\"/>", "more than one <outcome>");
    expect_bad_output("<source hostname=\"evil\"/>", "more than one <source>");
    expect_bad_output("<migration id=\"x\" driver=\"qemu\"/>", "more than one <migration>");
    expect_bad_output("<foo/>", "<foo> element: only <extension> and <feature>");
    expect_bad_output("<extension name=\"Upper\">x</extension>", "line 1");
    expect_bad_output("<extension name=\"x\" hook=\"forged\">x</extension>", "hook attribute");
    expect_bad_output("<extension name=\"hook-failures\">x</extension>", "migphase's own");
    expect_bad_output("<extension name=\"x\">1</extension><extension name=\"x\">2</extension>",
                      "twice");
    expect_bad_output("<feature name=\"lease\" mandatory=\"maybe\"/>", "line 1");
    expect_bad_output("</migphase-cookie><migphase-cookie version=\"1\" step=\"begin\">", "line");
}

Test(hooks, entities_and_doctype_are_refused)
{
    expect_bad_output("<!DOCTYPE x [<!ENTITY e \"boom\">]><extension name=\"x\">&e;</extension>",
                      "line 1");
    expect_bad_output("<extension name=\"x\">&e;</extension>", "line 1");
    expect_bad_output("<extension name=\"x\"><x:y/></extension>", "line 1");
    expect_bad_output("<?xml version=\"1.0\"?><extension name=\"x\"/>", "line 1");
}

Test(hooks, mandatory_feature_must_be_declared_here)
{
    expect_bad_output("<feature name=\"lease\" mandatory=\"yes\"/>", "features.d");
    write_file("features.d/lease", "", 0644);
    write_hook("prepare", "10-ok", "echo '<feature name=\"lease\" mandatory=\"yes\"/>'");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_PREPARE, &out, &err), 0, "%s", err ? err->message : "");
    cr_assert(out->features[0].mandatory);
    mp_cookie_free(out);
}

Test(hooks, veto_carries_stderr_and_undoes_earlier_hooks)
{
    write_hook("prepare", "10-lease", "echo \"10 ${MIGPHASE_OUTCOME:-run}\" >> $LOG");
    write_hook("prepare", "20-net", "echo \"20 ${MIGPHASE_OUTCOME:-run}\" >> $LOG");
    write_hook("prepare", "30-veto",
               "echo \"30 ${MIGPHASE_OUTCOME:-run}\" >> $LOG\n"
               "echo 'lease of vm1 is held by' >&2; printf 'hostB\\n\\001' >&2; exit 3");
    write_hook("prepare", "40-never", "echo 40 >> $LOG");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_lt(run_step(MP_STEP_PREPARE, &out, &err), 0);
    cr_assert_str_eq(err->message, "hook 30-veto vetoed the step: exited with status 3: lease of "
                                   "vm1 is held by hostB");
    _cleanup_free_ char *log = read_text("log");
    cr_assert_str_eq(log, "10 run\n20 run\n30 run\n20 cancelled\n10 cancelled\n");
    mp_error_free(err);
    mp_cookie_free(out);
}

Test(hooks, undo_call_runs_every_hook_last_first)
{
    write_hook("perform", "10-a", "echo \"10 $MIGPHASE_OUTCOME\" >> $LOG");
    write_hook("perform", "20-b", "echo \"20 $MIGPHASE_OUTCOME\" >> $LOG; exit 1");
    struct mp_hook_run run = make_run(MP_STEP_PERFORM);
    run.outcome = MP_OUTCOME_FAILED;
    struct mp_error *err = NULL;
    cr_assert_eq(mp_hooks_run(&run, NULL, &err), 0);
    cr_assert_null(err);
    _cleanup_free_ char *log = read_text("log");
    cr_assert_str_eq(log, "20 failed\n10 failed\n");
}

Test(hooks, failures_after_the_point_of_no_return_are_reported)
{
    write_hook("finish", "10-ok", "echo '<extension name=\"net\"><ok/></extension>'");
    write_hook("finish", "20-fails", "echo 'could not <remove> tap & more' >&2; exit 2");
    write_hook("finish", "30-garbage", "echo 'not xml'");
    write_hook("finish", "40-ok", "echo 40 >> $LOG");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    struct mp_cookie *base = begin_cookie();
    out = mp_cookie_derive(base, MP_STEP_FINISH);
    mp_cookie_free(base);
    struct mp_hook_run run = make_run(MP_STEP_FINISH);
    run.outcome = MP_OUTCOME_SUCCESS;
    cr_assert_eq(mp_hooks_run(&run, out, &err), 0);
    cr_assert_null(err);
    _cleanup_free_ char *log = read_text("log");
    cr_assert_str_eq(log, "40\n");
    cr_assert_not_null(find_extension(out, "net"));
    const struct mp_extension *f = find_extension(out, "hook-failures");
    cr_assert_not_null(f);
    cr_assert_null(f->hook);
    cr_assert_not_null(strstr(f->content, "<failure step=\"finish\" hook=\"finish:20-fails\" "
                                          "what=\"exited with status 2\">could not &lt;remove&gt; "
                                          "tap &amp; more</failure>"),
                       "%s", f->content);
    cr_assert_not_null(strstr(f->content, "hook=\"finish:30-garbage\""), "%s", f->content);
    /* The report survives a round trip through the next step's reader. */
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    cr_assert_eq(mp_cookie_format(out, &xml, &len, &err), 0, "%s", err ? err->message : "");
    mp_cookie_free(out);
}

Test(hooks, confirm_failures_are_logged_only)
{
    write_hook("confirm", "10-fails", "exit 1");
    write_hook("confirm", "20-prints",
               "echo '<extension name=\"x\">y</extension>'; echo 20 >> $LOG");
    struct mp_hook_run run = make_run(MP_STEP_CONFIRM);
    run.outcome = MP_OUTCOME_CANCELLED;
    cr_assert_eq(mp_hooks_run(&run, NULL, NULL), 0);
    _cleanup_free_ char *log = read_text("log");
    cr_assert_str_eq(log, "20\n");
}

Test(hooks, timeout_kills_the_hook)
{
    write_hook("begin", "10-slow", "exec sleep 30");
    struct mp_hook_run run = make_run(MP_STEP_BEGIN);
    run.timeout_ms = 300;
    struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_lt(mp_hooks_run(&run, NULL, &err), 0);
    cr_assert_lt(mp_now_ms() - t0, 5000);
    cr_assert_not_null(strstr(err->message, "did not finish within 300 ms"), "%s", err->message);
    mp_error_free(err);
}

Test(hooks, output_is_capped)
{
    write_hook("begin", "10-chatty", "head -c 300000 /dev/zero | tr '\\0' x");
    struct mp_hook_run run = make_run(MP_STEP_BEGIN);
    struct mp_error *err = NULL;
    cr_assert_lt(mp_hooks_run(&run, NULL, &err), 0);
    cr_assert_not_null(strstr(err->message, "wrote more than 262144 bytes"), "%s", err->message);
    mp_error_free(err);
}

Test(hooks, signal_death_is_a_failure)
{
    write_hook("begin", "10-dies", "kill -9 $$");
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_lt(run_step(MP_STEP_BEGIN, &out, &err), 0);
    cr_assert_str_eq(err->message, "hook 10-dies vetoed the step: was killed by signal 9");
    mp_error_free(err);
    mp_cookie_free(out);
}

Test(hooks, hooks_others_can_write_are_refused)
{
    write_hook("begin", "10-open", "echo ran >> $LOG");
    _cleanup_free_ char *path = at("begin.d/10-open");
    cr_assert_eq(chmod(path, 0777), 0);
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_lt(run_step(MP_STEP_BEGIN, &out, &err), 0);
    cr_assert_not_null(strstr(err->message, "writable by its group or by others"), "%s",
                       err->message);
    _cleanup_free_ char *log = read_text("log");
    cr_assert_str_eq(log, "");
    mp_error_free(err);
    mp_cookie_free(out);
}

Test(hooks, symlinked_hook_runs)
{
    write_file("shared-script", "#!/bin/sh\necho \"$0\" >> \"${0%/*}/../log\"\n", 0755);
    make_dir("begin.d");
    _cleanup_free_ char *target = at("shared-script");
    _cleanup_free_ char *link = at("begin.d/50-linked");
    cr_assert_eq(symlink(target, link), 0);
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_eq(run_step(MP_STEP_BEGIN, &out, &err), 0, "%s", err ? err->message : "");
    _cleanup_free_ char *log = read_text("log");
    _cleanup_free_ char *want = xasprintf("%s\n", link);
    cr_assert_str_eq(log, want);
    mp_cookie_free(out);
}

Test(hooks, extensions_that_overflow_the_cookie_are_refused)
{
    /* Five hooks of 250 KiB each: the fifth would take the cookie past 1 MiB. */
    for (int i = 1; i <= 5; i++) {
        _cleanup_free_ char *name = xasprintf("%d0-big", i);
        _cleanup_free_ char *body =
            xasprintf("printf '<extension name=\"big%d\">'; head -c 256000 /dev/zero | tr '\\0' x; "
                      "printf '</extension>'",
                      i);
        write_hook("begin", name, body);
    }
    struct mp_cookie *out = NULL;
    struct mp_error *err = NULL;
    cr_assert_lt(run_step(MP_STEP_BEGIN, &out, &err), 0);
    cr_assert_not_null(strstr(err->message, "hook 50-big vetoed the step: its extensions do not "
                                            "fit in the cookie"),
                       "%s", err->message);
    cr_assert_eq(out->n_extensions, 4);
    mp_error_free(err);
    mp_cookie_free(out);
}

Test(hooks, known_features_from_features_d)
{
    _cleanup_strv_ char **none = mp_hooks_known_features(NULL);
    /* The features the engine itself understands. */
    cr_assert_str_eq(none[0], "stats");
    cr_assert_str_eq(none[1], "tuning");
    cr_assert_str_eq(none[2], "postcopy");
    cr_assert_null(none[3]);
    write_file("features.d/lease", "provided by 50-lease\n", 0644);
    write_file("features.d/net.v2", "", 0644);
    write_file("features.d/Upper", "", 0644);
    write_file("features.d/stats", "", 0644);
    make_dir("features.d/dir");
    _cleanup_strv_ char **known = mp_hooks_known_features(hooks_dir);
    cr_assert_eq(mp_strv_length(known), 5);
    cr_assert_str_eq(known[0], "lease");
    cr_assert_str_eq(known[1], "net.v2");
    cr_assert_str_eq(known[2], "postcopy");
    cr_assert_str_eq(known[3], "stats");
    cr_assert_str_eq(known[4], "tuning");
}

Test(hooks, failure_reports_stay_bounded)
{
    /* 24 hooks failing with 4000 bytes of stderr each: past 64 KiB of
     * reports, the rest are reported without their text. */
    for (int i = 10; i < 34; i++) {
        _cleanup_free_ char *name = xasprintf("%d-fails", i);
        write_hook("finish", name, "head -c 4000 /dev/zero | tr '\\0' e >&2; exit 1");
    }
    struct mp_cookie *base = begin_cookie();
    struct mp_cookie *out = mp_cookie_derive(base, MP_STEP_FINISH);
    mp_cookie_free(base);
    struct mp_hook_run run = make_run(MP_STEP_FINISH);
    run.outcome = MP_OUTCOME_SUCCESS;
    cr_assert_eq(mp_hooks_run(&run, out, NULL), 0);
    const struct mp_extension *f = find_extension(out, "hook-failures");
    cr_assert_not_null(f);
    size_t len = strlen(f->content);
    cr_assert_lt(len, 64 * 1024 + 5000, "%zu bytes of reports", len);
    cr_assert_not_null(strstr(f->content, "hook=\"finish:33-fails\" what=\"exited with status "
                                          "1\"></failure>"));
    cr_assert_not_null(strstr(f->content, "hook=\"finish:10-fails\" what=\"exited with status "
                                          "1\">eeee"));
    mp_cookie_free(out);
}
