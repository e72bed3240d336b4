/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-migrate: the reference orchestrator. Runs the five steps in
 * order, hands each step's cookie to the next, and decides --cancelled for
 * Finish and Confirm from the outcome before them; several domains at once
 * in helpers/migrate-jobs.c. */
#include "config.h"

#include "migrate.h"

#include "cookie.h"
#include "error.h"
#include "log.h"
#include "support.h"
#include "trust.h"
#include "journal.h"
#include "options.h"
#include "proc.h"
#include "step-specs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

extern char **environ;

/* The options of several domains are parsed here, before the shared table
 * (shared/options.c) sees the rest; their help lines are in the table's
 * format, which tests/packaging/man-options.sh reads. */
static const char usage[] =
    "Usage: migphase-migrate --qmp SOCKET --dest-qmp SOCKET (--local | --transport CMD)\n"
    "       migphase-migrate --driver xen --domain NAME (--local | --transport CMD)\n"
    "       migphase-migrate --qmp-dir DIR [--dest-qmp-dir DIR] [--jobs N]\n"
    "                        (--local | --transport CMD) (--all | NAME...)\n"
    "       migphase-migrate --driver xen [--jobs N] (--local | --transport CMD) NAME...\n"
    "                        [migration options] [prepare options] [--progress MODE]\n"
    "\n"
    "Moves a VM with the five step helpers: Begin and Perform and Confirm here,\n"
    "Prepare and Finish on the destination (this host with --local, or through\n"
    "the command prefix CMD, e.g. 'ssh HOST' or 'ip netns exec NS', with the\n"
    "helpers installed at the same paths there). Prints a summary at the end.\n"
    "Several domains move in parallel jobs, each in a process of its own; a\n"
    "total --bandwidth is shared equally by the jobs, and %d in --rewrite\n"
    "stands for each domain's name. The exit status is the highest of theirs.\n"
    "\n"
    "Several domains:\n"
    "  --qmp-dir DIR             the source VMs' QMP sockets are DIR/NAME.qmp\n"
    "  --dest-qmp-dir DIR        the destination VMs' sockets are DIR/NAME.qmp (default: "
    "--qmp-dir)\n"
    "  --all                     every VM of --qmp-dir whose socket answers\n"
    "  --jobs N                  migrate N domains at once (default 1)\n";

/* Cookies of a run are small; a bound keeps a broken helper from eating memory. */
#define STEP_TIMEOUT_MS (24ULL * 3600 * 1000)
/* How many nice steps lower a step started early runs until its cookie,
 * beside the step on the way to the stream (start_early_prepare,
 * start_early_perform): at 10 it has about a tenth of the core it shares
 * with that step, and still gets on on a loaded host. Here (12 runs
 * alternated with and without) Begin's lap went down by 1.9 ms at 10 and
 * by 2.5 ms at 19; Prepare's, beside Perform started early, by 3.8 ms
 * (24 runs). */
#define EARLY_STEP_NICE 10

/* One domain's run: its options, and whether it is a job of several. */
struct migration {
    const struct mp_options *o;
    bool job; /* tell the parent each step on stderr */
};

struct step_result {
    int exit_status; /* the helper's, or 1 if it could not run or was killed */
    int signo;       /* the signal that killed it, 0 if none */
    char *cookie;    /* what it wrote on stdout, NULL if nothing */
    /* A success cookie's domain, where that name can name a journal (see
     * add_domain_of), NULL otherwise: found by the one parse that learned
     * the cookie's outcome (took_success). */
    char *domain;
};

static void
step_result_clear(struct step_result *r)
{
    free(r->cookie);
    r->cookie = NULL;
    free(r->domain);
    r->domain = NULL;
}

static char **
add(char **argv, const char *a, const char *b)
{
    argv = mp_strv_append(argv, a);
    return b ? mp_strv_append(argv, b) : argv;
}

static char **
add_u64(char **argv, const char *option, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    return add(argv, option, buf);
}

/* The helper's argv, behind the transport for the destination's steps. */
static char **
helper_argv(const struct mp_options *o, const char *helper, bool remote)
{
    char **argv = NULL;
    if (remote && o->transport) {
        _cleanup_strv_ char **prefix = mp_proc_split_command(o->transport);
        for (size_t i = 0; prefix[i]; i++)
            argv = mp_strv_append(argv, prefix[i]);
    }
    _cleanup_free_ char *path = mp_helper_path(helper);
    argv = add(argv, path, NULL);
    argv = add(argv, "--state-dir", o->state_dir);
    argv = add(argv, "--driver", o->driver);
    argv = add_u64(argv, "--qmp-timeout-ms", o->qmp_timeout_ms);
    argv = add_u64(argv, "--exit-timeout-ms", o->exit_timeout_ms);
    if (o->log_level != MP_LOG_WARNING)
        argv = add(argv, "--log-level", o->log_level == MP_LOG_DEBUG ? "debug" : "info");
    if (o->config_path)
        argv = add(argv, "--config", o->config_path);
    argv = add(argv, "--hooks-dir", o->hooks_dir);
    /* Another host has its own keys, where its own config says. */
    if (!remote || o->local)
        argv = add(argv, "--pki-dir", o->pki_dir);
    return argv;
}

/* The tuning options this run was given (its config file included). */
static char **
add_tuning(char **argv, const struct mp_tuning *t)
{
    argv = add_u64(argv, "--parallel", t->parallel);
    argv = add(argv, "--compress", mp_compress_name(t->compress));
    if (t->xbzrle_bytes)
        argv = add_u64(argv, "--xbzrle", t->xbzrle_bytes);
    if (t->auto_converge)
        argv = add(argv, "--auto-converge", NULL);
    argv = add(argv, "--converge", mp_converge_name(t->converge));
    if (t->postcopy_after_precopy)
        argv = add(argv, "--postcopy-after-precopy", NULL);
    else if (t->postcopy)
        argv = add(argv, "--postcopy", NULL);
    argv = add_u64(argv, "--throttle-initial", t->throttle_initial);
    return add_u64(argv, "--throttle-step", t->throttle_step);
}

static char **
begin_argv(const struct mp_options *o)
{
    char **argv = helper_argv(o, "migphase-begin", false);
    if (o->qmp_socket)
        argv = add(argv, "--qmp", o->qmp_socket);
    if (o->domain)
        argv = add(argv, "--domain", o->domain);
    argv = add(argv, o->params.live ? "--live" : "--offline", NULL);
    argv = add_u64(argv, "--bandwidth", o->params.bandwidth_mib);
    argv = add_u64(argv, "--downtime-ms", o->params.downtime_ms);
    argv = add_u64(argv, "--timeout", o->params.timeout_s);
    if (o->params.paused)
        argv = add(argv, "--paused", NULL);
    if (o->params.tls != MP_TLS_AUTO)
        argv = add(argv, o->params.tls == MP_TLS_ON ? "--tls" : "--no-tls", NULL);
    if (o->params.copy_storage != MP_COPY_STORAGE_NONE)
        argv = add(argv, "--copy-storage", mp_copy_storage_name(o->params.copy_storage));
    if (o->disks)
        argv = add(argv, "--disks", o->disks);
    if (o->unsafe)
        argv = add(argv, "--unsafe", NULL);
    return add_tuning(argv, &o->params.tuning);
}

static char **
prepare_argv(const struct mp_options *o)
{
    char **argv = helper_argv(o, "migphase-prepare", true);
    if (o->dest_qmp_socket)
        argv = add(argv, "--qmp", o->dest_qmp_socket);
    if (o->listen_addr)
        argv = add(argv, "--listen", o->listen_addr);
    char range[32];
    snprintf(range, sizeof(range), "%u-%u", o->port_lo, o->port_hi);
    argv = add(argv, "--port-range", range);
    for (size_t i = 0; o->rewrites && o->rewrites[i]; i++)
        argv = add(argv, "--rewrite", o->rewrites[i]);
    if (o->launcher)
        argv = add(argv, "--launcher", o->launcher);
    return argv;
}

static char **
perform_argv(const struct mp_options *o)
{
    static const char *const modes[] = { "auto", "bar", "json", "none" };
    char **argv = helper_argv(o, "migphase-perform", false);
    argv = add_u64(argv, "--stall-timeout-ms", o->stall_timeout_ms);
    argv = add_u64(argv, "--downtime-ceiling-ms", o->downtime_ceiling_ms);
    return add(argv, "--progress", modes[o->progress]);
}

static char **
finish_argv(const struct mp_options *o, bool cancelled)
{
    char **argv = helper_argv(o, "migphase-finish", true);
    argv = add_u64(argv, "--incoming-timeout-ms", o->incoming_timeout_ms);
    return cancelled ? add(argv, "--cancelled", NULL) : argv;
}

/* --domain for a step started ahead of its cookie, named by the cookie
 * before (Begin's, Prepare's: the step_result's domain). That cookie is the
 * other host's word, not checked here: only a name that can name a journal
 * goes on a command line (which --transport hands to a shell), and the
 * step refuses a verified cookie of another domain. */
static char **
add_domain_of(char **argv, const struct step_result *before)
{
    return before->domain ? add(argv, "--domain", before->domain) : argv;
}

/* Finish started ahead of Perform's cookie, told the domain: it opens its
 * journal and the VM's monitor and follows the incoming stream while it
 * waits, so that on the cookie only its own checks, the journal's commit
 * and the resume are left. */
static char **
finish_ahead_argv(const struct mp_options *o, const struct step_result *prepare)
{
    return add_domain_of(finish_argv(o, false), prepare);
}

static char **
confirm_argv(const struct mp_options *o, bool cancelled)
{
    char **argv = helper_argv(o, "migphase-confirm", false);
    argv = add_u64(argv, "--stall-timeout-ms", o->stall_timeout_ms);
    return cancelled ? add(argv, "--cancelled", NULL) : argv;
}

/* A job first tells its parent which step it starts, in one line that the
 * parent reads (migrate-jobs.c). */
static void
announce_step(const struct migration *m, const char *step)
{
    if (!m->job)
        return;
    _cleanup_free_ char *line = xasprintf("{\"event\":\"step\",\"step\":\"%s\"}\n", step);
    (void)!mp_write_all(STDERR_FILENO, line, strlen(line));
}

/* A finished helper's result: its exit status, and its cookie unless it
 * wrote nothing. */
static void
take_result(struct step_result *res, int status)
{
    res->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    res->signo = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    if (res->cookie && !*res->cookie)
        step_result_clear(res);
}

/* A step whose success cookie was acted on failed after it: worth a word,
 * not a change of course (its journal was done before its cookie). */
static void
warn_failed_after_cookie(const char *name, const struct step_result *res)
{
    if (res->signo)
        mp_log(MP_LOG_WARNING, "%s was killed by signal %d (%s) after its cookie", name, res->signo,
               strsignal(res->signo));
    else if (res->exit_status != 0)
        mp_log(MP_LOG_WARNING, "%s exited with status %d after its cookie", name, res->exit_status);
}

/* dir holds the helpers of this very build: migphase-migrate's own
 * directory, or where this build installs them. */
static bool
is_own_dir(const char *dir)
{
    _cleanup_free_ char *self = mp_self_dir();
    char real[PATH_MAX], own[PATH_MAX];
    if (!realpath(dir, real))
        return false;
    return (self && realpath(self, own) && strcmp(real, own) == 0) ||
           (realpath(MP_LIBEXECDIR, own) && strcmp(real, own) == 0);
}

/* The helper argv runs, if it is one of this build's: then it runs in a
 * forked copy of this program, which links the same code, and skips an
 * exec's loading of a program and its twenty libraries (8 ms a step where
 * bench/guest-pause.py measured it, against 0.5 ms for the fork). Anything
 * else (a helper behind a transport, or from a MIGPHASE_HELPER_DIR of other
 * programs: a wrapper, another version) is executed. */
static const struct mp_step_spec *
own_helper(char *const *argv)
{
    const struct mp_step_spec *spec = helper_step_spec_of_program(argv[0]);
    if (!spec || !strchr(argv[0], '/'))
        return NULL;
    _cleanup_free_ char *dir = xstrndup(argv[0], (size_t)(strrchr(argv[0], '/') - argv[0]));
    return is_own_dir(dir) ? spec : NULL;
}

static int
step_main(const void *spec, int argc, char **argv)
{
    return mp_step_main(spec, argc, argv);
}

static int
spawn_step(char *const *argv, bool capture_stderr, struct mp_child *child, struct mp_error **err)
{
    const struct mp_step_spec *spec = own_helper(argv);
    if (spec)
        return mp_proc_spawn_in_place(argv, environ, capture_stderr, step_main, spec, child, err);
    return mp_proc_spawn(argv, environ, capture_stderr, child, err);
}

static enum mp_outcome
cookie_outcome(const char *xml, struct mp_cookie **parsed)
{
    struct mp_cookie *c = NULL;
    if (!xml || mp_cookie_parse(xml, strlen(xml), NULL, &c, NULL) < 0)
        return MP_OUTCOME_FAILED;
    enum mp_outcome outcome = c->outcome;
    if (parsed)
        *parsed = c;
    else
        mp_cookie_free(c);
    return outcome;
}

/* Whether res holds a success cookie; if so, its domain in res->domain
 * (add_domain_of), from the same parse. */
static bool
took_success(struct step_result *res)
{
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    if (cookie_outcome(res->cookie, &c) != MP_OUTCOME_SUCCESS)
        return false;
    if (mp_journal_check_domain(c->domain_name, NULL) == 0)
        res->domain = xstrdup(c->domain_name);
    return true;
}

/* A step whose success cookie was taken as soon as it closed its output,
 * before its exit: the next step starts at once, and this one is reaped
 * later (its journal's done record was made before its cookie, so its exit
 * status can then only be worth a warning). */
struct exiting_step {
    struct mp_child child;
    char **argv; /* kept: child.program points into it */
    bool pending;
};

/* run_step, but a success cookie is taken before the step's exit: *x holds
 * the step until reap_exiting. Any other result waits for the exit, whose
 * status decides. meanwhile(data), if given, runs once the step started. */
static struct step_result
run_step_to_cookie(const struct migration *m, const char *step, char **consumed, const char *cookie,
                   void (*meanwhile)(void *), void *data, struct exiting_step *x)
{
    struct step_result res = { .exit_status = 1 };
    x->argv = consumed;
    struct mp_error *err = NULL;
    announce_step(m, step);
    mp_debug("running %s", x->argv[0]);
    int r = spawn_step(x->argv, false, &x->child, &err);
    bool started = r == 0;
    if (started && meanwhile)
        meanwhile(data);
    if (started)
        r = mp_proc_read_output(&x->child, cookie, cookie ? strlen(cookie) : 0, MP_COOKIE_MAX_SIZE,
                                STEP_TIMEOUT_MS, &res.cookie, NULL, &err);
    if (r == 0 && res.cookie && took_success(&res)) {
        x->pending = true;
        res.exit_status = 0;
        return res;
    }
    int status = 0;
    if (started)
        mp_proc_reap(&x->child, &status);
    if (r < 0) {
        mp_log(MP_LOG_ERROR, "%s: %s", x->argv[0], err->message);
        mp_error_free(err);
        step_result_clear(&res);
    } else {
        take_result(&res, status);
    }
    mp_strv_free(steal_ptr(&x->argv));
    return res;
}

static void
reap_exiting(struct exiting_step *x)
{
    if (x->pending) {
        int status = 0;
        struct step_result res = { 0 };
        mp_proc_reap(&x->child, &status);
        take_result(&res, status);
        warn_failed_after_cookie(x->argv[0], &res);
        x->pending = false;
    }
    mp_strv_free(steal_ptr(&x->argv));
}

/* Run one step with the cookie on stdin and wait for its exit; its stderr
 * (progress, errors) goes straight to ours. argv is consumed. */
static struct step_result
run_step(const struct migration *m, const char *step, char **consumed, const char *cookie)
{
    struct exiting_step x = { 0 };
    struct step_result res = run_step_to_cookie(m, step, consumed, cookie, NULL, NULL, &x);
    if (x.pending) {
        int status = 0;
        mp_proc_reap(&x.child, &status);
        take_result(&res, status);
    }
    mp_strv_free(x.argv);
    return res;
}

/* A step started before its cookie exists: Prepare, blocked reading Begin's
 * cookie while Begin runs, and Finish, blocked reading Perform's cookie
 * while the stream runs. Everything Finish does before reading (its own
 * start, options, keys, privileges, and with --domain its journal's lock,
 * the VM's monitor and the wait for the stream's end) is then off the
 * guest's pause, which runs from the source's stop to the destination's
 * resume. Nothing it does before the cookie changes anything, so one that
 * is never given a cookie leaves all as it was. Its stderr is held until
 * then: an abandoned one's complaint about its empty input is nobody's
 * business. */
struct early_step {
    struct mp_child child;
    char **argv;                 /* kept: child.program points into it */
    bool running;                /* false: it could not start, run it the usual way */
    bool fed;                    /* given its cookie: only its result is left to read */
    char *said;                  /* its stderr read with its cookie, shown with the rest */
    struct mp_cpu_yield yielded; /* started at a lower priority (Prepare's) */
};

static void
start_early(struct early_step *e, char **argv)
{
    struct mp_error *err = NULL;
    e->argv = argv;
    e->running = spawn_step(argv, true, &e->child, &err) == 0;
    if (!e->running) {
        mp_debug("cannot start %s ahead of its cookie: %s", argv[0], err->message);
        mp_error_free(err);
    }
}

/* Give the running early step its cookie; its result is read later. A step
 * that does not read it is killed, and says so by its exit status. */
static void
feed_early(const struct migration *m, struct early_step *e, const char *step, const char *cookie)
{
    announce_step(m, step);
    struct mp_error *err = NULL;
    if (mp_proc_feed(&e->child, cookie, strlen(cookie), STEP_TIMEOUT_MS, &err) < 0) {
        mp_log(MP_LOG_ERROR, "%s: %s", e->argv[0], err->message);
        mp_error_free(err);
    }
    e->fed = true;
}

/* The fed early step's cookie, read as soon as it closes its output (the
 * last thing it writes), before it has exited: *res gets the cookie, and
 * its exit status once end_early has reaped it. */
static void
read_early_cookie(struct early_step *e, struct step_result *res)
{
    struct mp_error *err = NULL;
    if (mp_proc_read_stdout(&e->child, NULL, 0, MP_COOKIE_MAX_SIZE, STEP_TIMEOUT_MS, &res->cookie,
                            &e->said, &err) < 0) {
        mp_log(MP_LOG_ERROR, "%s: %s", e->argv[0], err->message);
        mp_error_free(err);
        step_result_clear(res);
    }
}

static void
show_said(const char *text)
{
    if (text && *text)
        (void)!mp_write_all(STDERR_FILENO, text, strlen(text));
}

/* Wait for the early step's end: its exit status in *res, and what it said
 * on stderr shown if it was fed (an abandoned one's complaint about its
 * empty input is nobody's business). */
static void
end_early(struct early_step *e, struct step_result *res)
{
    _cleanup_strv_ char **argv = steal_ptr(&e->argv);
    _cleanup_free_ char *said = steal_ptr(&e->said), *rest = NULL;
    _cleanup_free_ char *cookie = NULL;
    struct mp_error *err = NULL;
    int status = 0;
    e->running = false;
    /* Unless its cookie was read already, what it writes now is its cookie. */
    int r = mp_proc_collect(&e->child, NULL, 0, MP_COOKIE_MAX_SIZE, STEP_TIMEOUT_MS,
                            res->cookie ? NULL : &cookie, &rest, &status, &err);
    if (e->fed) {
        show_said(said);
        show_said(rest);
    }
    res->exit_status = 1;
    if (r < 0) {
        if (e->fed)
            mp_log(MP_LOG_ERROR, "%s: %s", argv[0], err->message);
        mp_error_free(err);
        /* A cookie read before stands: it was whole, and may have been acted on. */
        if (!res->cookie || cookie)
            step_result_clear(res);
        return;
    }
    if (!res->cookie)
        res->cookie = steal_ptr(&cookie);
    take_result(res, status);
}

/* Give the early step its cookie and wait for its result; NULL abandons it
 * (it exits on its empty input, changing nothing). A step fed already is
 * only waited for. */
static struct step_result
complete_early(const struct migration *m, struct early_step *e, const char *step,
               const char *cookie)
{
    if (!e->running) {
        _cleanup_strv_ char **argv = steal_ptr(&e->argv);
        return cookie && argv ? run_step(m, step, steal_ptr(&argv), cookie)
                              : (struct step_result){ .exit_status = 1 };
    }
    if (cookie && !e->fed)
        feed_early(m, e, step, cookie);
    struct step_result res = { .exit_status = 1 };
    end_early(e, &res);
    return res;
}

/* Prepare, started once Begin has, blocked on Begin's cookie as Finish is on
 * Perform's: its start (the fork, or with --transport the remote helper's
 * start over the connection), options, keys and privileges then overlap
 * Begin's talk with the VM instead of following it. Before its cookie it
 * reads nothing and touches nothing. early->argv is Prepare's.
 * First the cookie schema is compiled and a cookie parsed and formatted
 * (about 3 ms), for this process's reading of Begin's cookie and for the
 * steps forked from now on: done before Begin's fork, it delayed Begin by
 * that much for nothing Begin uses (it reads no cookie).
 * Both run EARLY_STEP_NICE lower than Begin until its cookie: Begin is
 * on the way to the stream and they are not yet, and where Begin and its
 * QEMU had a core or so to share with them (the benchmark's host: the
 * guest's vCPU keeps the other), they took Begin's CPU. This process
 * takes its priority back before it waits for Begin's cookie, Prepare
 * when it is given it (migrate_one), so that neither waits behind other
 * work while Begin no longer runs. */
static void
start_early_prepare(void *early)
{
    struct early_step *e = early;
    mp_proc_yield_cpu(&e->yielded, EARLY_STEP_NICE);
    if (e->yielded.lowered)
        mp_debug("beside Begin, at nice %d until its cookie: the schema's compile and Prepare's "
                 "start",
                 e->yielded.lowered_to);
    mp_cookie_warm();
    start_early(e, steal_ptr(&e->argv));
    mp_proc_give_back_cpu(&e->yielded, 0);
}

/* Prepare given Begin's cookie (run the usual way if it could not start
 * early). A success cookie is taken as soon as Prepare closes its output:
 * the step is left to end_prepare, as run_step_to_cookie leaves it to
 * reap_exiting in *x. What it said so far is shown now, in its place.
 * meanwhile(data) runs once Prepare has the cookie, while it works. */
static struct step_result
prepare_from_early(const struct migration *m, struct early_step *e, const char *begin_cookie,
                   void (*meanwhile)(void *), void *data, struct exiting_step *x)
{
    if (!e->running)
        return run_step_to_cookie(m, "prepare", steal_ptr(&e->argv), begin_cookie, meanwhile, data,
                                  x);
    struct step_result res = { .exit_status = 1 };
    feed_early(m, e, "prepare", begin_cookie);
    meanwhile(data);
    read_early_cookie(e, &res);
    show_said(e->said);
    free(steal_ptr(&e->said));
    if (res.cookie && took_success(&res)) {
        res.exit_status = 0;
        return res;
    }
    end_early(e, &res);
    return res;
}

/* The exit of a Prepare whose success cookie was taken: only worth a
 * warning now (its journal's done record was made before its cookie). */
static void
end_prepare(struct early_step *e, struct exiting_step *x)
{
    reap_exiting(x);
    if (!e->running)
        return;
    _cleanup_free_ char *name = xstrdup(e->argv[0]);
    /* A cookie in res: end_early reads only what follows it. */
    struct step_result res = { .cookie = xstrdup("taken") };
    end_early(e, &res);
    warn_failed_after_cookie(name, &res);
    step_result_clear(&res);
}

/* How long the guest stood still, beside QEMU's own downtime: what the
 * helpers added to the pause is the difference (Finish measured it from the
 * source's STOP to the destination's RESUME). */
static void
print_pause(const struct mp_options *o, const struct mp_stats *s)
{
    double pause = (double)s->pause_us / 1000, within = (double)s->pause_uncertainty_us / 1000;
    double added = pause - (double)s->downtime_ms;
    if (o->progress == MP_PROGRESS_JSON) {
        fprintf(stderr,
                "{\"event\":\"pause\",\"pause_ms\":%.3f,\"uncertainty_ms\":%.3f,"
                "\"downtime_ms\":%llu,\"added_ms\":%.3f}\n",
                pause, within, (unsigned long long)s->downtime_ms, added);
        return;
    }
    fprintf(stderr,
            "the guest stood still %.1f ms (within %.1f ms): QEMU's downtime %llu ms, the "
            "helpers added %.1f ms\n",
            pause, within, (unsigned long long)s->downtime_ms, added);
}

static void
print_summary(const struct mp_options *o, const char *finish_cookie, uint64_t wall_ms)
{
    struct mp_cookie *c = NULL;
    cookie_outcome(finish_cookie, &c);
    if (!c || !c->stats.present) {
        fprintf(stderr, "migration completed in %.2f s\n", (double)wall_ms / 1000.0);
        mp_cookie_free(c);
        return;
    }
    fprintf(stderr,
            "migration of %s completed: %.2f s in all, stream %.2f s, downtime %llu ms, "
            "%.1f MiB sent of %.1f MiB RAM, %llu passes\n",
            c->domain_name, (double)wall_ms / 1000.0, (double)c->stats.total_ms / 1000.0,
            (unsigned long long)c->stats.downtime_ms,
            (double)c->stats.transferred_bytes / (1 << 20),
            (double)c->stats.total_bytes / (1 << 20), (unsigned long long)c->stats.iterations);
    if (c->stats.pause_us)
        print_pause(o, &c->stats);
    mp_cookie_free(c);
}

/* Start Perform with a pipe in MIGPHASE_NOTIFY_FD (mp_notify): *notify
 * becomes readable once it says it acts, or once it is gone. Only Perform
 * holds the pipe's writing end: it is inheritable only while Perform is
 * started. */
static int
spawn_notifying(char *const *argv, struct mp_child *child, int *notify, struct mp_error **err)
{
    int fds[2];
    if (pipe2(fds, 0) < 0)
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    char value[16];
    snprintf(value, sizeof(value), "%d", fds[1]);
    setenv(MP_NOTIFY_ENV, value, 1);
    int r = spawn_step(argv, false, child, err);
    unsetenv(MP_NOTIFY_ENV);
    close(fds[1]);
    if (r < 0) {
        close(fds[0]);
        return r;
    }
    *notify = fds[0];
    return 0;
}

/* Wait until the step says it acts, or goes. A ^C meanwhile ends the wait,
 * passed on to the step as reading its output would (it has a process
 * group of its own: the terminal's signal reaches only us). */
static void
await_acting(const struct mp_child *child, int notify)
{
    struct pollfd p = { notify, POLLIN, 0 };
    if (poll(&p, 1, STEP_TIMEOUT_MS) < 0 && errno == EINTR && mp_interrupted)
        kill(-child->pid, (int)mp_interrupted);
    close(notify);
}

/* The steps started while Perform streams, each blocked on its cookie:
 * Finish (given Perform's), and Confirm (given Finish's if it completed),
 * whose own start and warm-up are then not on the way from Finish's cookie
 * to the end either. The argv are consumed when they start. */
struct early_steps {
    struct early_step finish, confirm;
    char **finish_argv, **confirm_argv;
};

/* Give up an early step without a cookie: it goes having changed nothing. */
static void
abandon(const struct migration *m, struct early_step *e)
{
    struct step_result res = complete_early(m, e, NULL, NULL);
    step_result_clear(&res);
}

static void
start_early_steps(struct early_steps *early)
{
    start_early(&early->finish, steal_ptr(&early->finish_argv));
    start_early(&early->confirm, steal_ptr(&early->confirm_argv));
}

/* Perform, started while Prepare runs, blocked on Prepare's cookie and told
 * the domain (Begin's cookie names it): its own start (the fork, the
 * emulated exec, its options, keys, privileges and warm-up), its journal's
 * lock and the VM's monitor then overlap the destination QEMU's launch
 * instead of following it. Before its cookie it has changed nothing.
 * Until that cookie it runs EARLY_STEP_NICE lower, as Prepare did beside
 * Begin: the QEMU Prepare starts is on the way to the stream, and its
 * start is CPU work too. */
struct early_perform {
    struct mp_child child;
    int notify;   /* its MIGPHASE_NOTIFY_FD pipe (spawn_notifying) */
    char **argv;  /* kept: child.program points into it */
    bool running; /* false: it could not start, start it the usual way */
    struct mp_cpu_yield yielded;
};

static void
start_early_perform(const struct migration *m, const struct step_result *begin,
                    struct early_perform *p)
{
    struct mp_error *err = NULL;
    p->argv = add_domain_of(perform_argv(m->o), begin);
    mp_proc_yield_cpu(&p->yielded, EARLY_STEP_NICE);
    p->running = spawn_notifying(p->argv, &p->child, &p->notify, &err) == 0;
    mp_proc_give_back_cpu(&p->yielded, 0);
    if (p->running && p->yielded.lowered)
        mp_debug("Perform started at nice %d until Prepare's cookie", p->yielded.lowered_to);
    if (!p->running) {
        mp_debug("cannot start %s ahead of its cookie: %s", p->argv[0], err->message);
        mp_error_free(err);
    }
}

/* Prepare's meanwhile: Prepare gets Begin's cookie first, for it starts the
 * destination QEMU, the longest piece before the stream; Perform has until
 * Prepare's cookie to get ready. */
struct perform_start {
    const struct migration *m;
    const struct step_result *begin;
    struct early_perform *perform;
};

static void
start_early_perform_now(void *data)
{
    const struct perform_start *s = data;
    start_early_perform(s->m, s->begin, s->perform);
}

/* Prepare failed: the waiting Perform goes without a word (killed, it has
 * done nothing to undo), before Confirm --cancelled takes the journal. */
static void
abandon_perform(struct early_perform *p)
{
    if (p->running) {
        mp_proc_abandon(&p->child);
        close(p->notify);
        p->running = false;
    }
    mp_strv_free(steal_ptr(&p->argv));
}

/* Finish given Perform's cookie, whose own cookie, if a success, goes to the
 * waiting Confirm as soon as Finish closes its output after writing it (its
 * journal's done record made before), not once Finish has exited. Any
 * other is the caller's to act on, with Confirm (to abandon). */
static struct step_result
finish_into_confirm(const struct migration *m, const char *cookie, struct early_steps *early)
{
    struct early_step *fin = &early->finish;
    if (!fin->running)
        return complete_early(m, fin, "finish", cookie);
    struct step_result res = { .exit_status = 1 };
    feed_early(m, fin, "finish", cookie);
    read_early_cookie(fin, &res);
    if (res.cookie && early->confirm.running &&
        cookie_outcome(res.cookie, NULL) == MP_OUTCOME_SUCCESS)
        feed_early(m, &early->confirm, "confirm", res.cookie);
    end_early(fin, &res);
    return res;
}

/* Perform (started early if it could be), whose cookie goes to the waiting
 * Finish (*fin, its result) as soon as Perform closes its output after
 * writing it, not once Perform has exited: the rest of Perform's exit is
 * off the guest's pause too. The early steps start once Perform says it
 * acts, its stream running: their start and readying then overlap the
 * stream, not Perform's setup of it. Only a success cookie goes on; any
 * other is the caller's to act on, with the early steps (to abandon). */
static struct step_result
perform_into_finish(const struct migration *m, const char *cookie, struct early_perform *ep,
                    struct early_steps *early, struct step_result *fin)
{
    struct step_result res = { .exit_status = 1 };
    _cleanup_strv_ char **argv = steal_ptr(&ep->argv);
    announce_step(m, "perform");
    struct mp_child child = ep->child;
    struct mp_error *err = NULL;
    int notify = ep->notify;
    if (ep->running && ep->yielded.lowered) {
        mp_proc_give_back_cpu(&ep->yielded, child.pid);
        mp_debug("Perform back at nice %d with Prepare's cookie", ep->yielded.nice);
    }
    int r = ep->running ? 0 : spawn_notifying(argv, &child, &notify, &err);
    ep->running = false;
    if (r == 0) {
        r = mp_proc_feed(&child, cookie, strlen(cookie), STEP_TIMEOUT_MS, &err);
        if (r == 0)
            await_acting(&child, notify);
        else
            close(notify);
        start_early_steps(early);
        if (r == 0)
            r = mp_proc_read_output(&child, NULL, 0, MP_COOKIE_MAX_SIZE, STEP_TIMEOUT_MS,
                                    &res.cookie, NULL, &err);
        if (r == 0 && res.cookie && cookie_outcome(res.cookie, NULL) == MP_OUTCOME_SUCCESS)
            *fin = finish_into_confirm(m, res.cookie, early);
        int status = 0;
        mp_proc_reap(&child, &status);
        if (r == 0)
            take_result(&res, status);
    }
    if (r < 0) {
        mp_log(MP_LOG_ERROR, "%s: %s", argv[0], err->message);
        mp_error_free(err);
        step_result_clear(&res);
    }
    return res;
}

/* The destination went wrong after the source's stream: tell the operator. */
static int
left_state(const char *step, int exit_status)
{
    mp_log(MP_LOG_ERROR,
           "%s exited with status %d and left state behind: run migphase-status "
           "on both hosts",
           step, exit_status);
    return MP_EXIT_STATE;
}

/* Undo after Prepare succeeded and Perform did not complete the stream. */
static int
cancel_after_perform(const struct migration *m, const char *cookie)
{
    const struct mp_options *o = m->o;
    struct step_result fin = run_step(m, "finish", finish_argv(o, true), cookie);
    if (fin.exit_status == MP_EXIT_STATE) {
        step_result_clear(&fin);
        return left_state("migphase-finish --cancelled", fin.exit_status);
    }
    struct step_result conf =
        run_step(m, "confirm", confirm_argv(o, true), fin.cookie ? fin.cookie : cookie);
    step_result_clear(&fin);
    if (conf.exit_status != 0)
        return left_state("migphase-confirm --cancelled", conf.exit_status);
    return MP_EXIT_FAILED;
}

/* What the steps do first, done once here: the helpers of this build run in
 * forked copies of this process (own_helper) and find the code of signing
 * and checking a cookie and of loading keys already touched (about 1 ms),
 * and, from Prepare on, the cookie schema compiled (start_early_prepare),
 * instead of paying for it in each step. Perform's cookie is also read
 * here, while the guest stands still. Nothing here can fail a migration:
 * the steps open their own keys and say what is wrong with them. */
static void
warm_up(const struct mp_options *o)
{
    if (o->trust_none)
        return;
    _cleanup_trust_ struct mp_trust *trust = NULL;
    if (mp_trust_open(o, MP_STEP_PERFORM, &trust, NULL) == 0)
        mp_trust_warm(trust);
}

int
migrate_one(const struct mp_options *o, bool job)
{
    const struct migration run = { .o = o, .job = job }, *m = &run;
    uint64_t started = mp_now_ms();
    warm_up(o);
    struct exiting_step begin_left = { 0 }, prep_left = { 0 };
    struct early_step prep_early = { .argv = prepare_argv(o) };
    struct step_result begin = run_step_to_cookie(m, "begin", begin_argv(o), NULL,
                                                  start_early_prepare, &prep_early, &begin_left);
    if (prep_early.running && prep_early.yielded.lowered) {
        mp_proc_give_back_cpu(&prep_early.yielded, prep_early.child.pid);
        mp_debug("Begin is done: Prepare back at nice %d", prep_early.yielded.nice);
    }
    if (begin.exit_status != 0) {
        abandon(m, &prep_early);
        return begin.exit_status;
    }
    struct early_perform ep = { 0 };
    struct perform_start perform_start = { m, &begin, &ep };
    struct step_result prep = prepare_from_early(
        m, &prep_early, begin.cookie, start_early_perform_now, &perform_start, &prep_left);
    if (prep.exit_status != 0) {
        abandon_perform(&ep);
        reap_exiting(&begin_left);
        /* Nothing moved: close the source's side of the migration. */
        struct step_result conf =
            run_step(m, "confirm", confirm_argv(o, true), prep.cookie ? prep.cookie : begin.cookie);
        int status = conf.exit_status == 0 ? prep.exit_status
                                           : left_state("migphase-confirm", conf.exit_status);
        step_result_clear(&conf), step_result_clear(&prep), step_result_clear(&begin);
        return status;
    }
    step_result_clear(&begin);
    struct early_steps early = { .finish_argv = finish_ahead_argv(o, &prep),
                                 .confirm_argv = confirm_argv(o, false) };
    struct step_result fin = { .exit_status = -1 };
    struct step_result perf = perform_into_finish(m, prep.cookie, &ep, &early, &fin);
    /* Gone long ago: reaped where it delays nothing. */
    reap_exiting(&begin_left);
    end_prepare(&prep_early, &prep_left);
    /* Left when Perform could not be started: the early steps never were. */
    mp_strv_free(early.finish_argv), mp_strv_free(early.confirm_argv);
    if (fin.exit_status < 0) {
        /* Finish never got a cookie: both go, having done nothing. */
        abandon(m, &early.finish);
        abandon(m, &early.confirm);
        int status = perf.exit_status == MP_EXIT_STATE
                         ? left_state("migphase-perform", perf.exit_status)
                         : cancel_after_perform(m, perf.cookie ? perf.cookie : prep.cookie);
        step_result_clear(&perf), step_result_clear(&prep);
        return status;
    }
    step_result_clear(&prep);
    /* The destination acted on Perform's signed success: Confirm follows,
     * whatever Perform's exit said after it (its journal was done first). */
    warn_failed_after_cookie("migphase-perform", &perf);
    if (!early.confirm.fed && (fin.exit_status == MP_EXIT_STATE || !fin.cookie)) {
        abandon(m, &early.confirm);
        step_result_clear(&fin), step_result_clear(&perf);
        return left_state("migphase-finish", fin.exit_status);
    }
    /* Confirm acts on Finish's signed success, whatever Finish's exit said
     * after it (its journal was done first). */
    if (early.confirm.fed)
        warn_failed_after_cookie("migphase-finish", &fin);
    bool completed = cookie_outcome(fin.cookie, NULL) == MP_OUTCOME_SUCCESS;
    if (!completed) /* undone with --cancelled, as the operator would */
        abandon(m, &early.confirm);
    struct step_result conf = completed ? complete_early(m, &early.confirm, "confirm", fin.cookie)
                                        : run_step(m, "confirm", confirm_argv(o, true), fin.cookie);
    step_result_clear(&perf);
    if (conf.exit_status != 0) {
        step_result_clear(&fin);
        return left_state("migphase-confirm", conf.exit_status);
    }
    if (completed)
        print_summary(o, fin.cookie, mp_now_ms() - started);
    else
        mp_log(MP_LOG_ERROR, "the destination could not finish; the VM runs on the source again");
    step_result_clear(&fin);
    return completed ? MP_EXIT_OK : MP_EXIT_FAILED;
}

/* A local migration on a host without keys (a first try, the demo) signs
 * its cookies with a lab PKI made for it in a temporary folder, which
 * *tmp names (the caller removes it). Returns 0, or <0 with *err set. */
static int
make_lab_pki(struct mp_options *o, char **tmp, struct mp_error **err)
{
    /* Prepare reads and writes cookies: it needs every file a step needs. */
    if (!o->local || o->trust_none || mp_trust_check_files(o->pki_dir, MP_STEP_PREPARE, NULL) == 0)
        return 0;
    char dir[] = "/tmp/migphase-pki.XXXXXX";
    if (!mkdtemp(dir))
        return mp_error_set_errno(err, errno, "making a folder for a lab PKI");
    *tmp = xstrdup(dir);
    _cleanup_free_ char *host = mp_host_name();
    _cleanup_free_ char *lab = xasprintf("%s/lab", dir);
    _cleanup_free_ char *tool =
        mp_find_file("MIGPHASE_HELPER_DIR", "migphase-pki", MP_BINDIR, R_OK);
    _cleanup_strv_ char **argv = NULL;
    argv = add(argv, "/bin/sh", tool);
    argv = add(argv, "create", lab);
    argv = add(argv, host, NULL);
    int status = 0;
    int r = mp_proc_run(argv, environ, NULL, 0, 4096, 60000, NULL, NULL, &status, err);
    if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        r = mp_error_set(err, EIO,
                         "migphase-pki could not make a lab PKI (is certtool installed?)");
    if (r < 0)
        return mp_error_prefix(err, "%s has no keys", o->pki_dir);
    mp_info("%s has no keys: this local migration signs with a lab PKI in %s", o->pki_dir, lab);
    free(o->pki_dir);
    o->pki_dir = xasprintf("%s/%s", lab, host);
    return 0;
}

static void
remove_tree(const char *dir)
{
    if (!dir)
        return;
    _cleanup_strv_ char **argv = add(add(NULL, "rm", "-rf"), dir, NULL);
    int status = 0;
    mp_proc_run(argv, environ, NULL, 0, 0, 60000, NULL, NULL, &status, NULL);
}

/* Take the options of several domains (--qmp-dir, --dest-qmp-dir, --all,
 * --jobs, as --name VALUE or --name=VALUE) out of argv, before "--", into
 * sel; *rest gets what is left for the shared table. */
static int
take_selection_options(int argc, char **argv, struct migrate_selection *sel, char ***rest,
                       struct mp_error **err)
{
    static const char *const named[] = { "qmp-dir", "dest-qmp-dir", "jobs" };
    *rest = add(NULL, argv[0], NULL);
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0)
            options = false;
        if (!options || !mp_str_has_prefix(a, "--")) {
            *rest = add(*rest, a, NULL);
            continue;
        }
        if (strcmp(a, "--all") == 0) {
            sel->all = true;
            continue;
        }
        const char *value = NULL;
        size_t k;
        for (k = 0; k < ARRAY_SIZE(named); k++) {
            size_t n = strlen(named[k]);
            if (strncmp(a + 2, named[k], n) != 0)
                continue;
            if (a[2 + n] == '=') {
                value = a + 2 + n + 1;
                break;
            }
            if (a[2 + n] == '\0') {
                if (i + 1 >= argc)
                    return mp_error_input(err, EINVAL, "option '%s' needs a value", a);
                value = argv[++i];
                break;
            }
        }
        if (!value) {
            *rest = add(*rest, a, NULL);
        } else if (k == 2) {
            if (mp_parse_u64(value, &sel->jobs) < 0 || sel->jobs == 0)
                return mp_error_input(err, EINVAL, "--jobs needs a number above 0, not '%s'",
                                      value);
        } else {
            char **field = k == 0 ? &sel->qmp_dir : &sel->dest_qmp_dir;
            free(*field);
            *field = xstrdup(value);
        }
    }
    return 0;
}

/* Parse argv: the options of several domains here, the rest by the shared
 * table, which takes no positional argument: the names of the domains (the
 * tail of argv where the table's options end) are taken off and the rest
 * parsed again. Same returns as mp_options_parse. */
static int
parse_options(struct mp_options *o, struct migrate_selection *sel, int argc, char **argv,
              struct mp_error **err)
{
    _cleanup_strv_ char **rest = NULL;
    int r = take_selection_options(argc, argv, sel, &rest, err);
    if (r < 0)
        return r;
    int n = (int)mp_strv_length(rest);
    r = mp_support_parse_options(o, MP_PROG_MIGRATE, usage, n, rest, err);
    if (r >= 0 || !o->args)
        return r;
    sel->domains = steal_ptr(&o->args);
    int names = (int)mp_strv_length(sel->domains);
    mp_options_free(o);
    mp_error_free(*err);
    *err = NULL;
    return mp_support_parse_options(o, MP_PROG_MIGRATE, usage, n - names, rest, err);
}

static int
check_options(const struct mp_options *o, struct migrate_selection *sel, struct mp_error **err)
{
    if (o->local == (o->transport != NULL))
        return mp_error_input(err, EINVAL, "give exactly one of --local and --transport CMD");
    if (sel->domains || sel->all || sel->qmp_dir || sel->dest_qmp_dir || sel->jobs)
        return migrate_jobs_check(o, sel, err);
    /* QEMU VMs are reached by their monitors, Xen domains by their names. */
    bool qemu = strcmp(o->driver, "qemu") == 0;
    if (qemu && (!o->qmp_socket || !o->dest_qmp_socket))
        return mp_error_input(err, EINVAL, "give --qmp SOCKET and --dest-qmp SOCKET");
    if (!qemu && !o->domain)
        return mp_error_input(err, EINVAL, "give --domain NAME for driver %s", o->driver);
    return 0;
}

/* The migration is over and said so: the libraries' destructors (GnuTLS,
 * ICU, libxml2) only tidy memory the kernel takes back anyway, and take
 * 2 ms on the caller's wait (bench/guest-pause.py's Confirm lap). Under
 * AddressSanitizer they run, for its leak check at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static _noreturn_ void
exit_now(int status)
{
#ifdef UNDER_ASAN
    exit(status);
#else
    fflush(NULL);
    _exit(status);
#endif
}

int
main(int argc, char **argv)
{
    mp_log_init(argv[0]);
    struct mp_options opts = { 0 };
    struct migrate_selection sel = { 0 };
    _cleanup_error_ struct mp_error *err = NULL;
    int r = parse_options(&opts, &sel, argc, argv, &err);
    if (r > 0 && check_options(&opts, &sel, &err) < 0)
        r = -EINVAL;
    _cleanup_free_ char *lab_dir = NULL;
    if (r > 0)
        r = make_lab_pki(&opts, &lab_dir, &err) < 0 ? -EINVAL : r;
    int status = r < 0 ? mp_exit_status(r, err) : MP_EXIT_OK;
    if (r < 0) {
        mp_log(MP_LOG_ERROR, "%s", err->message);
    } else if (r > 0) {
        /* SIGINT reaches the steps too; Perform cancels and we undo the rest. */
        mp_proc_catch_interrupts();
        struct ssh_master master;
        ssh_master_start(&opts, &master);
        status = sel.domains || sel.all ? migrate_jobs_run(&opts, &sel) : migrate_one(&opts, false);
        ssh_master_stop(&master);
    }
    remove_tree(lab_dir);
    migrate_selection_free(&sel);
    mp_options_free(&opts);
    exit_now(status);
}
