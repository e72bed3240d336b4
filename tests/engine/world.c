/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine tests' two-host world (world.h). */
#include "config.h"

#include "world.h"

#include "cookie.h"
#include "log.h"
#include "options.h"
#include "sign.h"
#include "step.h"
#include "tests/remove-tree.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* tmpfs when there is one: every journal commit fsyncs, and the matrix
 * commits thousands of times. */
static const char *
temp_base(void)
{
    if (access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

static char *
make_dir(const char *root, const char *name)
{
    char *path = xasprintf("%s/%s", root, name);
    cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s: %s", path, strerror(errno));
    return path;
}

void
world_setup(struct world *w)
{
    w->root = xasprintf("%s/test-engine-XXXXXX", temp_base());
    cr_assert_not_null(mkdtemp(w->root), "mkdtemp: %s", strerror(errno));
    w->src_state = make_dir(w->root, "source-host");
    w->dst_state = make_dir(w->root, "destination-host");
    w->hooks = make_dir(w->root, "hooks");
    w->cookies = make_dir(w->root, "cookies");
    w->hv = make_dir(w->root, "hypervisor");
    /* Nothing from the host's /etc; cookies unsigned (the tests forge
     * them; world_use_pki() signs them, for test-trust.c). */
    _cleanup_free_ char *config = xasprintf("%s/migphase.conf", w->root);
    static const char conf[] = "trust = none\n";
    struct mp_error *err = NULL;
    cr_assert_eq(mp_write_file(config, conf, strlen(conf), &err), 0, "writing %s", config);
    fake_init(w->hv);
    mp_log_set_level(MP_LOG_ERROR);
}

void
world_teardown(struct world *w)
{
    if (w->root) {
        mp_test_remove_tree(w->root);
        _cleanup_free_ char *saved = xasprintf("%s.saved", w->root);
        mp_test_remove_tree(saved);
    }
    free(w->root);
    free(w->src_state);
    free(w->dst_state);
    free(w->hooks);
    free(w->cookies);
    free(w->hv);
    free(w->src_pki);
    free(w->dst_pki);
    *w = (struct world){ 0 };
}

void
world_use_pki(struct world *w, const char *src_pki, const char *dst_pki, unsigned max_age)
{
    free(w->src_pki);
    free(w->dst_pki);
    w->src_pki = xstrdup(src_pki);
    w->dst_pki = xstrdup(dst_pki);
    _cleanup_free_ char *config = xasprintf("%s/migphase.conf", w->root);
    _cleanup_free_ char *conf = xasprintf("trust = x509\ncookie-max-age = %u\n", max_age);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_write_file(config, conf, strlen(conf), &err), 0, "writing %s", config);
}

/* The length of a cookie's XML: all of it, or what comes before its
 * signature (found by its form, not checked). */
static size_t
payload_length(const char *text, size_t len)
{
    if (!mp_signature_present(text, len))
        return len;
    struct mp_signature_trailer t = { 0 };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_signature_parse(text, len, &t, &err), 0, "a malformed signature: %s",
                 err ? err->message : "?");
    size_t n = t.payload_len;
    mp_signature_trailer_clear(&t);
    return n;
}

void
world_unsign(const struct world *w, const char *name, const char *to)
{
    _cleanup_free_ char *from = world_cookie(w, name);
    _cleanup_free_ char *text = world_read(from);
    cr_assert_not_null(text, "no cookie %s", name);
    _cleanup_free_ char *path = world_cookie(w, to);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_write_file(path, text, payload_length(text, strlen(text)), &err), 0,
                 "writing %s", path);
}

void
world_sign(const struct world *w, const char *name, const char *to, const char *pki_dir,
           time_t when)
{
    _cleanup_free_ char *from = world_cookie(w, name);
    _cleanup_free_ char *text = world_read(from);
    cr_assert_not_null(text, "no cookie %s", name);
    size_t len = payload_length(text, strlen(text));
    _cleanup_identity_ struct mp_identity *id = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_identity_load(pki_dir, &id, &err), 0, "%s", err ? err->message : pki_dir);
    _cleanup_free_ char *signed_xml = NULL;
    size_t signed_len = 0;
    cr_assert_eq(mp_identity_sign(id, text, len, when, &signed_xml, &signed_len, &err), 0,
                 "signing %s: %s", name, err ? err->message : "?");
    _cleanup_free_ char *path = world_cookie(w, to);
    cr_assert_eq(mp_write_file(path, signed_xml, signed_len, &err), 0, "writing %s", path);
}

char *
world_cookie(const struct world *w, const char *name)
{
    return name[0] == '/' ? xstrdup(name) : xasprintf("%s/%s", w->cookies, name);
}

const char *
world_state_dir(const struct world *w, enum mp_step step)
{
    return mp_step_role(step) == MP_ROLE_SOURCE ? w->src_state : w->dst_state;
}

int
world_run(struct world *w, enum mp_step step, const char *in, const char *out, unsigned flags,
          enum fake_script script, char **message)
{
    _cleanup_free_ char *prog = xasprintf("migphase-%s", mp_step_name(step));
    _cleanup_free_ char *in_path = in ? world_cookie(w, in) : NULL;
    _cleanup_free_ char *out_path = out ? world_cookie(w, out) : NULL;
    char *argv[32];
    int argc = 0;
    argv[argc++] = prog;
    _cleanup_free_ char *config = xasprintf("%s/migphase.conf", w->root);
    argv[argc++] = "--config";
    argv[argc++] = config;
    argv[argc++] = "--state-dir";
    argv[argc++] = (char *)world_state_dir(w, step);
    argv[argc++] = "--hooks-dir";
    argv[argc++] = w->hooks;
    argv[argc++] = "--driver";
    argv[argc++] = "fake";
    argv[argc++] = "--log-level";
    argv[argc++] = "error";
    const char *pki = mp_step_role(step) == MP_ROLE_SOURCE ? w->src_pki : w->dst_pki;
    if (pki) {
        argv[argc++] = "--pki-dir";
        argv[argc++] = (char *)pki;
    }
    if (in_path) {
        argv[argc++] = "--in";
        argv[argc++] = in_path;
    }
    if (out_path) {
        argv[argc++] = "--out";
        argv[argc++] = out_path;
    }
    if (flags & RUN_CANCELLED)
        argv[argc++] = "--cancelled";
    if (flags & RUN_FORCE)
        argv[argc++] = "--force";
    if (flags & RUN_PAUSED)
        argv[argc++] = "--paused";
    if (flags & (RUN_AHEAD | RUN_AHEAD_VM2)) {
        argv[argc++] = "--domain";
        argv[argc++] = flags & RUN_AHEAD ? "vm1" : "vm2";
    }
    argv[argc] = NULL;

    struct mp_options opts;
    _cleanup_error_ struct mp_error *err = NULL;
    enum mp_program program = (enum mp_program)(MP_PROG_BEGIN << step);
    int r = mp_options_parse(&opts, program, "test", argc, argv, &err);
    cr_assert_gt(r, 0, "options of %s: %s", prog, err ? err->message : "answered");
    mp_log_set_level(MP_LOG_ERROR);
    const struct mp_step_spec spec = { .step = step, .program = program, .usage = "test" };

    fake_script(step, script);
    int status;
    if (script >= FAKE_CRASH_PLAN) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            struct mp_error *child_err = NULL;
            int rc = mp_step_execute(&spec, &opts, &fake_driver, &child_err);
            _exit(mp_exit_status(rc, child_err));
        }
        int ws = 0;
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
        cr_assert(WIFEXITED(ws), "the %s child died of signal %d", prog, WTERMSIG(ws));
        status = WEXITSTATUS(ws) == FAKE_CRASH_STATUS ? RUN_CRASHED : WEXITSTATUS(ws);
        if (message)
            *message = status == RUN_CRASHED ? NULL : xstrdup("(in the child)");
    } else {
        r = mp_step_execute(&spec, &opts, &fake_driver, &err);
        status = (int)mp_exit_status(r, err);
        if (message)
            *message = r < 0 && err ? xstrdup(err->message) : NULL;
    }
    fake_script(step, FAKE_SUCCEED);
    mp_options_free(&opts);
    return status;
}

const char *const world_natural_in[MP_STEP_COUNT] = {
    [MP_STEP_PREPARE] = "begin.xml",
    [MP_STEP_PERFORM] = "prepare.xml",
    [MP_STEP_FINISH] = "perform.xml",
    [MP_STEP_CONFIRM] = "finish.xml",
};
const char *const world_natural_out[MP_STEP_COUNT] = {
    [MP_STEP_BEGIN] = "begin.xml",
    [MP_STEP_PREPARE] = "prepare.xml",
    [MP_STEP_PERFORM] = "perform.xml",
    [MP_STEP_FINISH] = "finish.xml",
};

int
world_script_status(enum fake_script script)
{
    switch (script) {
    case FAKE_SUCCEED:
        return 0;
    case FAKE_FAIL_PLAN:
    case FAKE_FAIL_ACT:
        return 1;
    case FAKE_FAIL_LEFT_STATE:
        return 3;
    case FAKE_REFUSE_PLAN:
        return 2;
    default:
        return RUN_CRASHED;
    }
}

void
world_play(struct world *w, enum mp_step step, enum fake_script script, unsigned flags)
{
    _cleanup_free_ char *message = NULL;
    int status = world_run(w, step, world_natural_in[step], world_natural_out[step], flags, script,
                           &message);
    cr_assert_eq(status, world_script_status(script), "setting up: %s (%s) ended with %d: %s",
                 mp_step_name(step), fake_script_name(script), status,
                 message ? message : "no message");
}

char *
world_read(const char *path)
{
    char *text = NULL;
    struct mp_error *err = NULL;
    int r = mp_read_file(path, 1 << 20, &text, NULL, &err);
    if (r == -ENOENT) {
        mp_error_free(err);
        return NULL;
    }
    cr_assert_eq(r, 0, "reading %s: %s", path, err ? err->message : "?");
    return text;
}

struct mp_cookie *
world_read_cookie(const struct world *w, const char *name)
{
    _cleanup_free_ char *path = world_cookie(w, name);
    _cleanup_free_ char *xml = world_read(path);
    if (!xml)
        return NULL;
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_parse(xml, payload_length(xml, strlen(xml)), NULL, &c, &err), 0,
                 "cookie %s: %s", name, err ? err->message : "?");
    return c;
}

void
world_forge(const struct world *w, const char *begin, const char *name, enum mp_step step,
            enum mp_outcome outcome, enum forge forge)
{
    _cleanup_cookie_ struct mp_cookie *b = world_read_cookie(w, begin);
    cr_assert_not_null(b, "no cookie %s to forge from", begin);
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_derive(b, step);
    c->outcome = outcome;
    /* Never byte for byte a cookie a step wrote: the engine compares bytes. */
    mp_cookie_set_data(c, "forged-by", "test");
    free(c->outcome_message);
    c->outcome_message = NULL;
    /* The world's two hosts have one name (mp_host_name()): a cookie that
     * names another is refused by the hosts rule. */
    if (step >= MP_STEP_PREPARE && !c->destination.hostname) {
        c->destination.hostname = mp_host_name();
        c->destination.host_id = xstrdup("0123456789abcdef0123456789abcdef");
    }
    if (step >= MP_STEP_PREPARE && !c->uri)
        c->uri = xstrdup(FAKE_URI);
    if (step >= MP_STEP_PERFORM)
        c->stats = (struct mp_stats){ .present = true, .total_ms = 1, .total_bytes = 4096 };
    switch (forge) {
    case FORGE_PLAIN:
        break;
    case FORGE_OTHER_MIGRATION:
        free(c->migration_id);
        c->migration_id = xstrdup("00000000-1111-4222-8333-444444444444");
        break;
    case FORGE_OTHER_DOMAIN:
        free(c->domain_name);
        c->domain_name = xstrdup("vm2");
        break;
    case FORGE_CHANGED:
        c->params.bandwidth_mib += 1;
        break;
    case FORGE_OTHER_HOST:
    case FORGE_BAD_HOST: {
        struct mp_host *writer =
            mp_step_role(step) == MP_ROLE_SOURCE ? &c->source : &c->destination;
        free(writer->hostname);
        writer->hostname = xstrdup(forge == FORGE_OTHER_HOST ? WORLD_OTHER_HOST : "bad host;");
        break;
    }
    case FORGE_EXEC_URI:
        free(c->uri);
        c->uri = xstrdup("exec:cat > /dev/null");
        break;
    }
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_format(c, &xml, &len, &err), 0, "forging %s: %s", name,
                 err ? err->message : "?");
    _cleanup_free_ char *path = world_cookie(w, name);
    cr_assert_eq(mp_write_file(path, xml, len, &err), 0, "writing %s", path);
}

static char *
journal_dir(const struct world *w, enum mp_role role, const char *domain)
{
    return xasprintf("%s/%s/%s", role == MP_ROLE_SOURCE ? w->src_state : w->dst_state,
                     mp_role_name(role), domain);
}

char *
world_record_text(const struct world *w, enum mp_role role, const char *domain)
{
    _cleanup_free_ char *dir = journal_dir(w, role, domain);
    _cleanup_free_ char *path = xasprintf("%s/record", dir);
    return world_read(path);
}

struct mp_journal_record *
world_record(const struct world *w, enum mp_role role, const char *domain)
{
    _cleanup_free_ char *text = world_record_text(w, role, domain);
    if (!text)
        return NULL;
    struct mp_journal_record *record = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_record_parse(text, strlen(text), &record, &err), 0,
                 "the %s record of %s does not parse: %s", mp_role_name(role), domain,
                 err ? err->message : "?");
    return record;
}

bool
world_has_journal(const struct world *w, enum mp_role role, const char *domain)
{
    _cleanup_free_ char *dir = journal_dir(w, role, domain);
    return access(dir, F_OK) == 0;
}

/* Copy a tree (directories, regular files and their modes). */
static void
copy_tree(const char *from, const char *to)
{
    struct stat st;
    cr_assert_eq(lstat(from, &st), 0, "stat %s: %s", from, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        cr_assert(mkdir(to, st.st_mode & 07777) == 0 || errno == EEXIST, "mkdir %s: %s", to,
                  strerror(errno));
        DIR *d = opendir(from);
        cr_assert_not_null(d, "opendir %s: %s", from, strerror(errno));
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            _cleanup_free_ char *a = xasprintf("%s/%s", from, e->d_name);
            _cleanup_free_ char *b = xasprintf("%s/%s", to, e->d_name);
            copy_tree(a, b);
        }
        closedir(d);
        return;
    }
    cr_assert(S_ISREG(st.st_mode), "%s: not a file or directory", from);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct mp_error *err = NULL;
    cr_assert_eq(mp_read_file(from, 1 << 20, &data, &len, &err), 0, "reading %s", from);
    _cleanup_close_ int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
    cr_assert_geq(fd, 0, "creating %s: %s", to, strerror(errno));
    cr_assert_eq(mp_write_all(fd, data, len), 0, "writing %s", to);
}

void
world_save(struct world *w)
{
    _cleanup_free_ char *saved = xasprintf("%s.saved", w->root);
    mp_test_remove_tree(saved);
    copy_tree(w->root, saved);
}

void
world_restore(struct world *w)
{
    _cleanup_free_ char *saved = xasprintf("%s.saved", w->root);
    cr_assert_eq(access(saved, F_OK), 0, "world_restore without world_save");
    mp_test_remove_tree(w->root);
    copy_tree(saved, w->root);
    fake_init_keep(w->hv);
}

void
world_forget(const struct world *w, enum mp_role role, const char *domain)
{
    _cleanup_free_ char *dir = journal_dir(w, role, domain);
    mp_test_remove_tree(dir);
}

size_t *
world_indices(size_t n)
{
    size_t *index = cr_malloc(n * sizeof(*index));
    for (size_t i = 0; i < n; i++)
        index[i] = i;
    return index;
}
