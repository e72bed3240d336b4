/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Site hooks: finding them (run-parts' rules), running them (cleared
 * environment, the cookie on stdin, bounded time and output, never through a
 * shell), reading what they print, and deciding what their failure means.
 *
 * What a hook prints is checked by the cookie parser itself
 * (mp_cookie_parse_items), so that it accepts exactly the <extension> and
 * <feature> elements a cookie may carry, with the same schema, size cap and
 * refusal of DOCTYPEs and network access, and refuses anything else. */
#include "config.h"

#include "hooks.h"

#include "buf.h"
#include "log.h"
#include "proc.h"
#include "xml.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Per hook, for stdout and for stderr alike: far more than any extension
 * needs, far less than a cookie may hold. */
#define HOOK_MAX_OUTPUT (256 * 1024)
/* Hook names go into the cookie as "<step>:<name>", an identifier of at most
 * 128 characters. */
#define HOOK_NAME_MAX 100
/* How much of a failing hook's stderr an error message and a failure report
 * carry. */
#define SHOWN_STDERR_MAX    1000
#define REPORTED_STDERR_MAX 4000
#define REPORTS_MAX         (64 * 1024)
/* The extension in which Finish reports the hooks that failed after the
 * point of no return. Hooks may not write it themselves. */
#define FAILURES_EXTENSION "hook-failures"

static const char hook_path_env[] = "PATH=" MP_DEFAULT_PATH;

/* run-parts' rule: letters, digits, '_' and '-' only. Editor backups,
 * package manager leftovers (.dpkg-old) and hidden files are not hooks. */
static bool
valid_hook_name(const char *name)
{
    return mp_str_is_name(name, HOOK_NAME_MAX, NULL,
                          MP_CHARS_UPPER MP_CHARS_LOWER MP_CHARS_DIGITS "_-");
}

/* The cookie schema's feature-name: [a-z0-9][a-z0-9._-]*, at most 64. */
static bool
valid_feature_name(const char *name)
{
    return mp_str_is_name(name, 64, MP_CHARS_LOWER MP_CHARS_DIGITS,
                          MP_CHARS_LOWER MP_CHARS_DIGITS "._-");
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}
#define _cleanup_dir_ _cleanup_(closedirp)

/* The names of the hooks in dir, sorted bytewise. A missing directory holds
 * no hooks. Entries that are not hooks are skipped, and said so when the
 * name suggests someone meant one. */
static int
list_hooks(const char *dir, char ***out, struct mp_error **err)
{
    *out = NULL;
    _cleanup_dir_ DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return mp_error_set_errno(err, errno, "cannot read %s", dir);
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (!valid_hook_name(e->d_name)) {
            mp_info("skipping %s/%s: hook names are letters, digits, '_' and '-' only", dir,
                    e->d_name);
            continue;
        }
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            mp_debug("skipping %s: not a regular file", path);
            continue;
        }
        if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
            mp_info("skipping %s: not executable", path);
            continue;
        }
        names = mp_strv_append(names, e->d_name);
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), compare_names);
    *out = names;
    return 0;
}

/* Hooks run as root: one that someone else could have rewritten is refused
 * (and counts as failing) rather than run or skipped, so that a tampered
 * lease hook cannot silently let a migration through. */
static char *
unsafe_reason(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return xasprintf("cannot stat it: %s", strerror(errno));
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return xasprintf("it is owned by uid %ld, neither root nor this helper's user",
                         (long)st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return xstrdup("it is writable by its group or by others");
    return NULL;
}

static char **
hook_env(const struct mp_hook_run *run, enum mp_outcome outcome)
{
    char **env = mp_strv_append(NULL, hook_path_env);
    const struct {
        const char *name;
        const char *value;
    } vars[] = {
        { "MIGPHASE_STEP", mp_step_name(run->step) },
        { "MIGPHASE_ROLE", mp_role_name(run->role) },
        { "MIGPHASE_DOMAIN", run->domain },
        { "MIGPHASE_UUID", run->uuid },
        { "MIGPHASE_ID", run->migration_id },
        { "MIGPHASE_PEER_HOST", run->peer_host },
        /* Whom what a hook makes for the VM (a tap) must belong to. */
        { "MIGPHASE_VM_USER", run->vm_user },
        /* A hook that hands something over between Begin and Confirm must
         * know when it runs under libvirt, which calls no hook on the
         * source: then Prepare and Finish are all there is. */
        { "MIGPHASE_MANAGER", run->manager ? run->manager : "migphase" },
        /* Empty until the step has an outcome: Finish and Confirm, and the
         * undo call of the steps before them. */
        { "MIGPHASE_OUTCOME", outcome == MP_OUTCOME_NONE ? NULL : mp_outcome_name(outcome) },
    };
    /* Every variable is always set, empty when unknown, so that hooks
     * written with `set -u` need no defaults. */
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        _cleanup_free_ char *kv =
            xasprintf("%s=%s", vars[i].name, vars[i].value ? vars[i].value : "");
        env = mp_strv_append(env, kv);
    }
    return env;
}

/* Text from a hook, fit for a message (one line) or a cookie's report
 * (keep_newlines), at most max bytes of it. */
static char *
hook_text(const char *s, size_t max, bool keep_newlines)
{
    return mp_log_text(s, strlen(s), max, keep_newlines ? MP_LOG_LINES : MP_LOG_LINE);
}

/* How one hook run went. what is NULL on success. */
struct hook_result {
    char *what; /* "exited with status 1", "did not finish within 30000 ms" */
    char *stdout_text;
    char *stderr_text;
};

static void
hook_result_clear(struct hook_result *r)
{
    free(r->what);
    free(r->stdout_text);
    free(r->stderr_text);
    *r = (struct hook_result){ 0 };
}

static void
run_hook(const struct mp_hook_run *run, const char *path, enum mp_outcome outcome,
         struct hook_result *res)
{
    *res = (struct hook_result){ 0 };
    res->what = unsafe_reason(path);
    if (res->what)
        return;
    char *const argv[] = { (char *)path, NULL };
    _cleanup_strv_ char **env = hook_env(run, outcome);
    uint64_t timeout = run->timeout_ms ? run->timeout_ms : MP_HOOK_DEFAULT_TIMEOUT_MS;
    struct mp_error *err = NULL;
    int status = 0;
    uint64_t started = mp_now_ms();
    int r = mp_proc_run(argv, env, run->cookie, run->cookie ? run->cookie_len : 0, HOOK_MAX_OUTPUT,
                        timeout, &res->stdout_text, &res->stderr_text, &status, &err);
    mp_debug("hook %s ran for %llu ms", path, (unsigned long long)(mp_now_ms() - started));
    if (r < 0) {
        /* The message names the path already ("... did not finish within"). */
        res->what = xstrdup(err ? err->message : strerror(-r));
        mp_error_free(err);
    } else if (WIFSIGNALED(status)) {
        res->what = xasprintf("was killed by signal %d", WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
        res->what = xasprintf("exited with status %d", WEXITSTATUS(status));
    }
}

static const char *
strip_prefix(const char *s, const char *prefix)
{
    return mp_str_has_prefix(s, prefix) ? s + strlen(prefix) : s;
}

/* The name of an unknown element, from its XML ("<foo ..."). */
static char *
element_name(const char *xml)
{
    const char *p = xml + (*xml == '<');
    return xstrndup(p, strcspn(p, " \t\r\n/>"));
}

/* Read what a hook printed: <extension> and <feature> elements and nothing
 * else, into a cookie that holds just them. Features marked mandatory must be
 * among known (this host's), since this host reads the cookies that come
 * back. On failure returns -EINVAL with *why set. */
static int
parse_output(const char *output, const char *const *known, struct mp_cookie **items, char **why)
{
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *perr = NULL;
    int r = mp_cookie_parse_items(output, known, &c, &perr);
    if (r == -ENOTSUP) {
        *why = xasprintf("it marks a feature mandatory that this host does not declare in "
                         "features.d (%s)",
                         perr->message);
        return -EINVAL;
    }
    if (r < 0) {
        const char *msg = strip_prefix(perr->message, "malformed cookie: ");
        *why = xasprintf("its output is not <extension> and <feature> elements: %s",
                         strip_prefix(msg, "invalid cookie: "));
        return -EINVAL;
    }
    if (c->unknown && c->unknown[0]) {
        _cleanup_free_ char *name = element_name(c->unknown[0]);
        *why = xasprintf("it printed a <%s> element: only <extension> and <feature> are allowed",
                         name);
        return -EINVAL;
    }
    for (size_t i = 0; i < c->n_extensions; i++) {
        const struct mp_extension *e = &c->extensions[i];
        if (e->hook) {
            *why = xasprintf("extension '%s' has a hook attribute: migphase sets it", e->name);
            return -EINVAL;
        }
        if (strcmp(e->name, FAILURES_EXTENSION) == 0) {
            *why = xstrdup("extension '" FAILURES_EXTENSION "' is migphase's own");
            return -EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->extensions[j].name, e->name) == 0) {
                *why = xasprintf("it printed extension '%s' twice", e->name);
                return -EINVAL;
            }
        }
    }
    *items = steal_ptr(&c);
    return 0;
}

static struct mp_extension *
find_extension(struct mp_cookie *c, const char *name)
{
    for (size_t i = 0; i < c->n_extensions; i++)
        if (strcmp(c->extensions[i].name, name) == 0)
            return &c->extensions[i];
    return NULL;
}

/* An extension a hook writes replaces one of the same name (written by an
 * earlier step's hook, say), so that readers find one, the latest. */
static void
put_extension(struct mp_cookie *c, const char *name, const char *hook, const char *content)
{
    struct mp_extension *e = find_extension(c, name);
    if (!e) {
        mp_cookie_add_extension(c, name, hook, content);
        return;
    }
    free(e->hook);
    free(e->content);
    e->hook = xstrdup(hook);
    e->content = xstrdup(content ? content : "");
}

static void
apply_items(struct mp_cookie *c, const struct mp_cookie *items, const char *hook_id)
{
    for (size_t i = 0; i < items->n_features; i++)
        mp_cookie_add_feature(c, items->features[i].name, items->features[i].mandatory);
    for (size_t i = 0; i < items->n_extensions; i++)
        put_extension(c, items->extensions[i].name, hook_id, items->extensions[i].content);
}

/* Add what one hook printed to out, all or nothing: a trial copy must still
 * format (and so stay under the cookie size cap). */
static int
add_output(struct mp_cookie *out, const char *output, const char *const *known, const char *hook_id,
           char **why)
{
    if (output[strspn(output, " \t\r\n")] == '\0')
        return 0;
    _cleanup_cookie_ struct mp_cookie *items = NULL;
    int r = parse_output(output, known, &items, why);
    if (r < 0)
        return r;
    if (!out) {
        mp_info("hook %s printed extensions, but this step writes no cookie: ignored", hook_id);
        return 0;
    }
    _cleanup_cookie_ struct mp_cookie *trial = mp_cookie_derive(out, out->step);
    apply_items(trial, items, hook_id);
    _cleanup_free_ char *xml = NULL;
    _cleanup_error_ struct mp_error *ferr = NULL;
    if (mp_cookie_format(trial, &xml, NULL, &ferr) < 0) {
        *why = xasprintf("its extensions do not fit in the cookie: %s", ferr->message);
        return -EINVAL;
    }
    apply_items(out, items, hook_id);
    return 0;
}

/* Past the point of no return a failure is reported in the cookie, one
 * <failure> element per hook, for the peer and for people to see. Past
 * REPORTS_MAX bytes of reports the stderr texts are left out, so that a storm
 * of failures cannot push the cookie over its size cap, which would fail the
 * step itself. */
static void
report_failure(struct mp_cookie *out, enum mp_step step, const char *hook_id, const char *what,
               const char *stderr_text)
{
    if (!out)
        return;
    struct mp_extension *e = find_extension(out, FAILURES_EXTENSION);
    size_t used = e && e->content ? strlen(e->content) : 0;
    _cleanup_free_ char *what_text = hook_text(what, REPORTED_STDERR_MAX, false);
    _cleanup_free_ char *text =
        hook_text(used < REPORTS_MAX && stderr_text ? stderr_text : "", REPORTED_STDERR_MAX, true);
    _cleanup_buf_ struct mp_buf report = { 0 };
    if (e && e->content)
        mp_buf_add_str(&report, e->content);
    mp_buf_printf(&report, "<failure step=\"%s\" hook=\"%s\" what=\"", mp_step_name(step), hook_id);
    mp_xml_escape(&report, what_text, true);
    mp_buf_add_str(&report, "\">");
    mp_xml_escape(&report, text, false);
    mp_buf_add_str(&report, "</failure>");
    if (!e) {
        mp_cookie_add_extension(out, FAILURES_EXTENSION, NULL, report.data);
        return;
    }
    free(e->content);
    e->content = mp_buf_steal(&report, NULL);
}

/* What the admin sees: "exited with status 1: <first 1000 bytes of stderr>". */
static char *
describe_failure(const struct hook_result *res)
{
    _cleanup_free_ char *text =
        hook_text(res->stderr_text ? res->stderr_text : "", SHOWN_STDERR_MAX, false);
    return *text ? xasprintf("%s: %s", res->what, text) : xstrdup(res->what);
}

/* A hook may need a capability the helper keeps for it (CAP_NET_ADMIN to
 * make tap devices). Whatever the helper holds both permitted and
 * inheritable is raised as ambient for the duration of the hooks, so that it
 * survives execve() of an ordinary script when the helper runs as a service
 * user too. Returns whether anything was raised. */
static bool
raise_ambient_capabilities(void)
{
    bool raised = false;
    if (capng_get_caps_process() < 0)
        return false;
    for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++) {
        if (capng_have_capability(CAPNG_PERMITTED, cap) &&
            capng_have_capability(CAPNG_INHERITABLE, cap) &&
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) == 0)
            raised = true;
    }
    return raised;
}

static void
clear_ambient_capabilities(bool raised)
{
    if (raised)
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static char *
make_hook_id(enum mp_step step, const char *name)
{
    return xasprintf("%s:%s", mp_step_name(step), name);
}

/* The step failed or was vetoed after these hooks ran: call them again, last
 * first, with MIGPHASE_OUTCOME set, so that each can undo what it did. Their
 * failures are logged only: the step has failed already. */
static void
undo_hooks(const struct mp_hook_run *run, const char *dir, char *const *names, size_t n,
           enum mp_outcome outcome)
{
    for (size_t i = n; i-- > 0;) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
        struct hook_result res;
        run_hook(run, path, outcome, &res);
        if (res.what) {
            _cleanup_free_ char *why = describe_failure(&res);
            mp_warn("hook %s could not undo its work: %s", path, why);
        }
        hook_result_clear(&res);
    }
}

static bool
past_point_of_no_return(enum mp_step step)
{
    return step == MP_STEP_FINISH || step == MP_STEP_CONFIRM;
}

/* The step's own directory of hooks, newly allocated. */
static char *
step_dir(const char *hooks_dir, enum mp_step step)
{
    return xasprintf("%s/%s.d", hooks_dir, mp_step_name(step));
}

bool
mp_hooks_step_dir_absent(const char *hooks_dir, enum mp_step step)
{
    _cleanup_free_ char *dir = step_dir(hooks_dir, step);
    struct stat st;
    return stat(dir, &st) < 0 && (errno == ENOENT || errno == ENOTDIR);
}

int
mp_hooks_run(const struct mp_hook_run *run, struct mp_cookie *out, struct mp_error **err)
{
    bool reporting = past_point_of_no_return(run->step);
    bool undoing = !reporting && run->outcome != MP_OUTCOME_NONE;
    _cleanup_free_ char *dir = step_dir(run->hooks_dir, run->step);
    _cleanup_strv_ char **names = NULL;
    _cleanup_error_ struct mp_error *list_err = NULL;
    if (list_hooks(dir, &names, &list_err) < 0) {
        if (!reporting && !undoing) {
            int r = -list_err->errnum;
            if (err && !*err)
                *err = steal_ptr(&list_err);
            return r;
        }
        mp_warn("%s", list_err->message);
        report_failure(out, run->step, "-", list_err->message, NULL);
        return 0;
    }
    size_t n = mp_strv_length(names);
    if (n == 0)
        return 0;
    if (undoing) {
        bool raised = raise_ambient_capabilities();
        undo_hooks(run, dir, names, n, run->outcome);
        clear_ambient_capabilities(raised);
        return 0;
    }

    _cleanup_strv_ char **known = mp_hooks_known_features(run->hooks_dir);
    bool raised = raise_ambient_capabilities();
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
        _cleanup_free_ char *id = make_hook_id(run->step, names[i]);
        struct hook_result res;
        mp_debug("running hook %s", path);
        run_hook(run, path, run->outcome, &res);
        if (!res.what) {
            _cleanup_free_ char *why = NULL;
            if (add_output(out, res.stdout_text, (const char *const *)known, id, &why) < 0)
                res.what = steal_ptr(&why);
            else if (res.stderr_text && *res.stderr_text)
                mp_debug("hook %s said: %s", path, res.stderr_text);
        }
        if (res.what && reporting) {
            _cleanup_free_ char *why = describe_failure(&res);
            mp_warn("hook %s failed after the point of no return (the step stands): %s", path, why);
            report_failure(out, run->step, id, res.what, res.stderr_text);
        } else if (res.what) {
            _cleanup_free_ char *why = describe_failure(&res);
            r = mp_error_set(err, ECANCELED, "hook %s vetoed the step: %s", names[i], why);
            undo_hooks(run, dir, names, i, MP_OUTCOME_CANCELLED);
        }
        hook_result_clear(&res);
    }
    clear_ambient_capabilities(raised);
    return r;
}

char **
mp_hooks_known_features(const char *hooks_dir)
{
    char **v = NULL;
    for (size_t i = 0; mp_cookie_known_features[i]; i++)
        v = mp_strv_append(v, mp_cookie_known_features[i]);
    if (!v)
        v = xzalloc(sizeof(char *));
    if (!hooks_dir)
        return v;
    /* A hook declares the features it understands with a file named after
     * each in features.d: known before any cookie is read, without running
     * site code in every step. */
    _cleanup_free_ char *dir = xasprintf("%s/features.d", hooks_dir);
    _cleanup_dir_ DIR *d = opendir(dir);
    if (!d)
        return v;
    size_t n = mp_strv_length(v);
    for (struct dirent *e; (e = readdir(d));) {
        if (!valid_feature_name(e->d_name)) {
            if (e->d_name[0] != '.')
                mp_debug("ignoring %s/%s: not a feature name", dir, e->d_name);
            continue;
        }
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        bool have = false;
        for (size_t i = 0; i < n && !have; i++)
            have = strcmp(v[i], e->d_name) == 0;
        if (!have) {
            v = mp_strv_append(v, e->d_name);
            n++;
        }
    }
    qsort(v, n, sizeof(*v), compare_names);
    return v;
}
