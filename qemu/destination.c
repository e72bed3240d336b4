/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's destination side: Prepare and Finish. */
#include "config.h"

#include "argv.h"
#include "buf.h"
#include "facts.h"
#include "log.h"
#include "monitor.h"
#include "proc.h"
#include "qemu-internal.h"
#include "storage.h"
#include "tls.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define INCOMING_POLL_MS 200
/* -sandbox: QEMU's seccomp filter with every optional group denied. */
#define QEMU_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/* Wait for the new QEMU's monitor, giving up early if the process dies. */
static int
connect_new_vm(const char *socket, pid_t pid, const char *log_path, const struct mp_options *opts,
               struct qemu_qmp **qmp, struct mp_error **err)
{
    _cleanup_free_ char *what = xasprintf("the destination QEMU (QMP %s)", socket);
    struct qemu_qmp_starting vm = { .pid = pid, .what = what, .log_path = log_path };
    int r = qemu_qmp_connect_wait(socket, &vm, opts->qmp_timeout_ms, qmp, err);
    if (r < 0)
        return r;
    qemu_qmp_set_interrupt(*qmp, &mp_interrupted);
    return 0;
}

/* The QMP socket of the new VM, made here, root's and mode 0600: only root
 * talks to the VM's monitor, while QEMU runs as another user. QEMU gets it
 * bound and calls listen() itself: until then a connect is refused, so a
 * monitor that answers was made listening by the VM, whose pid SO_PEERCRED
 * then names (check_peer). A file left at the path was checked to be no
 * live monitor (check_socket_free) and goes. */
static int
bind_qmp_socket(const char *path, int *fd, struct mp_error **err)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return mp_error_input(err, ENAMETOOLONG, "the QMP socket path %s is too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        (void)unlink(path);
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return mp_error_set_errno(err, errno, "cannot create the QMP socket");
    /* The mode is set at bind, from the umask: never a moment wider. */
    mode_t old = umask(0177);
    int r = bind(s, (struct sockaddr *)&addr, sizeof(addr));
    int e = errno;
    umask(old);
    if (r < 0)
        return mp_error_set_errno(err, e, "cannot create the QMP socket %s", path);
    *fd = s;
    s = -1;
    return 0;
}

/* Where the plan's command line names the TLS files the act stages: the
 * directory exists only once the act made it. */
#define TLS_DIR_PLACEHOLDER "@MIGPHASE-TLS-DIR@"

/* The options the destination adds to every VM's command line, after the
 * source's: QEMU's seccomp sandbox, with everything it can deny denied (the
 * helper changed the user before the exec; QEMU itself may not), and for a
 * TLS stream the server credentials and who may send. */
static char **
destination_extra_args(const struct mp_step_ctx *ctx)
{
    char **extra = mp_strv_append(NULL, "-sandbox");
    extra = mp_strv_append(extra, QEMU_SANDBOX);
    if (!ctx->out->stream_tls)
        return extra;
    _cleanup_strv_ char **tls =
        qemu_tls_destination_objects(TLS_DIR_PLACEHOLDER, ctx->in->source.hostname);
    for (size_t i = 0; tls[i]; i++)
        extra = mp_strv_append(extra, tls[i]);
    return extra;
}

/* Stage the server's TLS files for the VM's user and name them in argv. */
static int
stage_tls(const struct mp_options *opts, char **argv, char **staged, struct mp_error **err)
{
    uid_t uid = 0;
    gid_t gid = 0;
    struct passwd *pw = opts->qemu_user ? getpwnam(opts->qemu_user) : NULL;
    if (pw) {
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    int r = qemu_tls_stage(opts->pki_dir, true, uid, gid, staged, err);
    if (r < 0)
        return r;
    for (size_t i = 0; argv[i]; i++) {
        if (!strstr(argv[i], TLS_DIR_PLACEHOLDER))
            continue;
        char *named = qemu_replace_all(argv[i], TLS_DIR_PLACEHOLDER, *staged);
        free(argv[i]);
        argv[i] = named;
    }
    return 0;
}

/* Start the VM as the policy's user (qemu-user), QMP on the socket bound
 * here, its pid in the pid file (written before QEMU runs, by root: QEMU
 * cannot write in the journal). */
static int
launch_vm(struct mp_step_ctx *ctx, char *const *argv, const char *pidfile, const char *log_path,
          pid_t *pid, struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    _cleanup_strv_ char **launcher = opts->launcher ? mp_proc_split_command(opts->launcher) : NULL;
    _cleanup_close_ int qmp_fd = -1;
    int r = bind_qmp_socket(opts->qmp_socket, &qmp_fd, err);
    if (r < 0)
        return mp_error_prefix(err, "starting the destination VM");
    struct mp_launch spec = { .launcher = launcher,
                              .argv = argv,
                              .log_path = log_path,
                              .pidfile = pidfile,
                              .user = opts->qemu_user,
                              .pass_fds = &qmp_fd,
                              .n_pass_fds = 1 };
    r = mp_proc_launch(&spec, pid, err);
    if (r < 0) {
        (void)unlink(opts->qmp_socket);
        return mp_error_prefix(err, "starting the destination VM");
    }
    return 0;
}

static json_object *
incoming_args(const struct mp_options *opts, unsigned port)
{
    _cleanup_free_ char *uri = mp_tcp_uri(opts->listen_addr, port);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(uri));
    return args;
}

#define LISTEN_WHAT "listening for the stream"

/* qemu-internal.h */
int
qemu_listen_result(struct mp_step_ctx *ctx, const char *addr, unsigned port, int r,
                   struct mp_error *e, const char *what, struct mp_error **err)
{
    _cleanup_free_ char *uri = mp_tcp_uri(addr, port);
    if (r == 0) {
        ctx->out->uri = mp_stream_uri(addr, ctx->out->destination.hostname, port);
        mp_journal_record_set_fact(ctx->record, QEMU_FACT_URI, uri);
        return 1;
    }
    if (r == -EREMOTEIO && strstr(e->message, "in use")) {
        mp_debug("port %u is taken: %s", port, e->message);
        mp_error_free(e);
        return 0;
    }
    *err = e;
    return mp_error_prefix(err, "%s on %s", what, uri);
}

/* Whether this kernel keeps userfaultfd, which postcopy's demand paging
 * needs, from a process without CAP_SYS_PTRACE: the confined QEMU as
 * qemu-user is one. */
static bool
userfaultfd_privileged_only(void)
{
    _cleanup_free_ char *v = NULL;
    if (mp_read_file("/proc/sys/vm/unprivileged_userfaultfd", 16, &v, NULL, NULL) < 0)
        return false;
    return v[0] == '0';
}

/* QEMU answers "Postcopy is not supported" when setting postcopy-ram on an
 * incoming VM that cannot open userfaultfd, and says why only on its
 * stderr. Say it precisely, on one line: an input error (exit 2), since
 * this host cannot take the migration as asked. */
static int
explain_postcopy_refusal(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    if (!*err)
        return -EIO;
    if (!ctx->in->params.tuning.postcopy || !strstr((*err)->message, "Postcopy"))
        return -(*err)->errnum;
    _cleanup_free_ char *qemu_said = xstrdup((*err)->message);
    mp_error_free(steal_ptr(err));
    bool unprivileged = opts->qemu_user && strcmp(opts->qemu_user, "root") != 0;
    if (unprivileged && userfaultfd_privileged_only())
        return mp_error_input(err, ENOTSUP,
                              "--postcopy refused: the destination QEMU runs as %s, and this "
                              "kernel lets only privileged processes use userfaultfd "
                              "(vm.unprivileged_userfaultfd=0); set vm.unprivileged_userfaultfd=1 "
                              "on this host, or migrate without --postcopy",
                              opts->qemu_user);
    return mp_error_input(err, ENOTSUP,
                          "--postcopy refused: the destination QEMU (%s) cannot fetch pages on "
                          "demand (%s; its log says why)",
                          qemu_qmp_version(qmp) ? qemu_qmp_version(qmp) : "?", qemu_said);
}

/* Set the migration up and ask QEMU to listen on each port of the range
 * until one is free. The first try goes with the settings, in one round
 * trip: if they fail, Prepare stops this VM anyway. */
static int
setup_and_listen(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    unsigned port = opts->port_lo;
    struct qemu_qmp_call first = { .command = "migrate-incoming",
                                   .args = incoming_args(opts, port) };
    struct qemu_tls_params tls = { 0 };
    if (ctx->out->stream_tls)
        tls = (struct qemu_tls_params){ .creds = QEMU_TLS_CREDS_ID, .authz = QEMU_TLS_AUTHZ_ID };
    int r =
        qemu_monitor_setup_migration(qmp, QEMU_INCOMING, &ctx->in->params, &tls, NULL, &first, err);
    if (r < 0)
        r = explain_postcopy_refusal(ctx, qmp, err);
    if (r == 0)
        r = qemu_listen_result(ctx, opts->listen_addr, port, first.result, steal_ptr(&first.error),
                               LISTEN_WHAT, err);
    qemu_qmp_calls_free(&first, 1);
    while (r == 0 && ++port <= opts->port_hi) {
        struct mp_error *e = NULL;
        r = qemu_qmp_execute(qmp, "migrate-incoming", incoming_args(opts, port), NULL, &e);
        r = qemu_listen_result(ctx, opts->listen_addr, port, r, e, LISTEN_WHAT, err);
    }
    if (r != 0)
        return r < 0 ? r : 0;
    return mp_error_set(err, EADDRINUSE, "no free port in %u-%u on %s", opts->port_lo,
                        opts->port_hi, opts->listen_addr);
}

/* A QEMU already answering on the socket would get our commands, unless it
 * is the VM of an interrupted earlier Prepare (stale), which the act stops. */
static int
check_socket_free(const struct mp_options *opts, pid_t stale, struct mp_error **err)
{
    _cleanup_qmp_ struct qemu_qmp *other = NULL;
    if (qemu_qmp_connect(opts->qmp_socket, opts->qmp_timeout_ms, &other, NULL) < 0)
        return 0;
    pid_t peer = 0;
    if (stale > 0 && qemu_qmp_peer_pid(other, &peer) == 0 && peer == stale)
        return 0;
    return mp_error_input(err, EADDRINUSE,
                          "a running VM already answers on %s: choose another --qmp",
                          opts->qmp_socket);
}

/* A destination VM from an interrupted Prepare never received anything
 * (its cookie was not handed out): it goes before a new one starts. */
static int
remove_stale_vm(pid_t stale, const struct mp_options *opts, struct mp_error **err)
{
    if (stale <= 0 || !mp_proc_alive(stale))
        return 0;
    mp_info("stopping the destination VM (pid %ld) of an interrupted Prepare", (long)stale);
    return mp_proc_terminate(stale, opts->exit_timeout_ms, err);
}

/* The monitor that answers must be the new VM's: an older QEMU still
 * serving the path would otherwise get our commands. The pid file names the
 * QEMU process itself, whatever launcher started it. */
static int
check_peer(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, const char *pidfile, pid_t *pid,
           struct mp_error **err)
{
    pid_t peer = 0, vm = 0;
    if (qemu_qmp_peer_pid(qmp, &peer) < 0 || mp_proc_read_pidfile(pidfile, &vm, NULL) < 0)
        return mp_error_set(err, EPROTO, "cannot tell which process answers on %s",
                            ctx->opts->qmp_socket);
    if (peer != vm)
        return mp_error_set(err, EADDRINUSE, "process %ld, not the new VM (%ld), answers on %s",
                            (long)peer, (long)vm, ctx->opts->qmp_socket);
    *pid = vm;
    /* Committed with the step's end: until then recovery finds the VM by
     * the pid file recorded before the launch. */
    qemu_record_process(ctx->record, ctx->opts->qmp_socket, vm);
    return 0;
}

static int
setup_vm(struct mp_step_ctx *ctx, pid_t *pid, const char *pidfile, const char *log_path,
         struct mp_error **err)
{
    _cleanup_qmp_ struct qemu_qmp *qmp = NULL;
    int r = connect_new_vm(ctx->opts->qmp_socket, *pid, log_path, ctx->opts, &qmp, err);
    if (r == 0)
        r = check_peer(ctx, qmp, pidfile, pid, err);
    if (r == 0)
        r = setup_and_listen(ctx, qmp, err);
    if (r == 0)
        r = qemu_storage_export(ctx, qmp, ctx->out->stream_tls, err);
    return r;
}

/* Drop the recorded pid, so that the pid file names the VM: an interrupted
 * earlier Prepare's VM until it is replaced, then the new one. */
static void
forget_recorded_pid(struct mp_journal_record *record)
{
    mp_journal_record_set_fact(record, QEMU_FACT_PID, NULL);
    mp_journal_record_set_fact(record, QEMU_FACT_PID "-start", NULL);
}

/* What Prepare's plan found, for its act. */
struct new_vm {
    char **argv;
    char **extra; /* destination_extra_args(), which argv ends with */
    char *pidfile;
    char *log_path;
    pid_t stale;                         /* the VM of an interrupted earlier Prepare, 0: none */
    struct qemu_storage_target *targets; /* images to create for the disks' copy */
    size_t n_targets;
};

static void
new_vm_free(void *state)
{
    struct new_vm *vm = state;
    mp_strv_free(vm->argv);
    mp_strv_free(vm->extra);
    free(vm->pidfile);
    free(vm->log_path);
    qemu_storage_targets_free(vm->targets, vm->n_targets);
    free(vm);
}

/* Start the VM the plan described, waiting for the stream. */
static int
prepare_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct new_vm *vm = state;
    const struct mp_options *opts = ctx->opts;
    int r = remove_stale_vm(vm->stale, opts, err);
    if (r < 0)
        return mp_error_left_state(err);
    (void)unlink(vm->pidfile);
    (void)unlink(vm->log_path);
    /* QEMU opens the target images at its start. */
    r = qemu_storage_create_targets(vm->targets, vm->n_targets, opts->qemu_user, err);
    if (r < 0) {
        qemu_storage_remove_targets(ctx->record);
        return r;
    }
    char *staged = NULL;
    if (ctx->out->stream_tls) {
        r = stage_tls(opts, vm->argv, &staged, err);
        if (r < 0) {
            qemu_storage_remove_targets(ctx->record);
            return r;
        }
    }
    pid_t pid;
    r = launch_vm(ctx, vm->argv, vm->pidfile, vm->log_path, &pid, err);
    if (r < 0) {
        qemu_tls_unstage(staged);
        qemu_storage_remove_targets(ctx->record);
        return r;
    }
    r = setup_vm(ctx, &pid, vm->pidfile, vm->log_path, err);
    /* QEMU loaded the credentials before its monitor answered: the copies
     * go now, whatever happened. */
    qemu_tls_unstage(staged);
    if (r == 0)
        return 0;
    /* On any failure the destination VM must be gone. */
    struct mp_error *kill_err = NULL;
    if (mp_proc_terminate(pid, opts->exit_timeout_ms, &kill_err) < 0) {
        mp_error_prefix(err, "%s; and the VM could not be stopped", kill_err->message);
        mp_error_free(kill_err);
        return mp_error_left_state(err);
    }
    qemu_storage_remove_targets(ctx->record);
    return r;
}

/* prepare --check's report: each argument on its own line, quoted for a
 * shell when it needs it, and the user it would run as. */
static char *
describe_argv(char *const *argv, const char *user)
{
    static const char plain_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-_=,.:/@%+";
    struct mp_buf out = { 0 };
    mp_buf_printf(&out, "# as user %s, under seccomp, with this helper's QMP socket and pid file\n",
                  user ? user : "root");
    for (size_t i = 0; argv[i]; i++) {
        const char *arg = argv[i];
        if (*arg && strspn(arg, plain_chars) == strlen(arg)) {
            mp_buf_add_str(&out, arg);
        } else {
            mp_buf_add_str(&out, "'");
            for (const char *p = arg; *p; p++) {
                if (*p == '\'')
                    mp_buf_add_str(&out, "'\\''");
                else
                    mp_buf_add(&out, p, 1);
            }
            mp_buf_add_str(&out, "'");
        }
        /* An option and its value on one line, as people write them. */
        bool pair = arg[0] == '-' && argv[i + 1] && argv[i + 1][0] != '-';
        mp_buf_add_str(&out, !argv[i + 1] ? "\n" : pair ? " " : " \\\n");
    }
    return mp_buf_steal(&out, NULL);
}

/* The user of the policy (qemu-user) must exist before anything starts. */
static int
check_qemu_user(const char *user, struct mp_error **err)
{
    if (!user || strcmp(user, "root") == 0)
        return 0;
    errno = 0;
    if (getpwnam(user))
        return 0;
    return mp_error_input(err, errno ? errno : ENOENT,
                          "qemu-user '%s' does not exist on this host (see migphase.conf(5))",
                          user);
}

/* The command line the destination will run, and where recovery will find
 * the VM: its pid file, recorded before the launch, names whichever VM of
 * this migration runs (an interrupted earlier Prepare's used the same). */
int
qemu_prepare(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    if (opts->resume)
        return qemu_prepare_resume(ctx, plan, err);
    if (!opts->qmp_socket)
        return mp_error_input(err, EINVAL,
                              "no QMP socket for the destination VM: give --qmp SOCKET");
    if (!mp_streq0(ctx->in->description_format, "qemu-argv"))
        return mp_error_input(err, EINVAL, "the cookie does not describe a QEMU VM");
    int r = check_qemu_user(opts->qemu_user, err);
    if (r == 0 && ctx->out->stream_tls && !qemu_tls_valid_host(ctx->in->source.hostname))
        r = mp_error_input(err, EINVAL,
                           "the source's host name cannot name the only sender TLS admits");
    if (r < 0)
        return r;
    struct new_vm *vm = xzalloc(sizeof(*vm));
    vm->pidfile = mp_journal_path(ctx->journal, "qemu.pid");
    vm->log_path = mp_journal_path(ctx->journal, "qemu.log");
    vm->extra = destination_extra_args(ctx);
    /* QMP on the descriptor launch_vm passes, the pid file written by the
     * launch (QEMU, not root, could not write it in the journal). */
    struct qemu_argv_target target = { .qmp_socket = opts->qmp_socket,
                                       .qmp_fd = MP_LAUNCH_FIRST_FD,
                                       .pidfile = NULL,
                                       .rewrites = opts->rewrites,
                                       .emulators = opts->emulators,
                                       .allowed_paths = opts->allowed_paths,
                                       .extra = vm->extra };
    vm->stale = qemu_recorded_pid(ctx->record);
    r = qemu_argv_for_destination(ctx->in->description_args, &target, &vm->argv, err);
    if (r == 0)
        r = check_socket_free(opts, vm->stale, err);
    if (r == 0)
        r = qemu_storage_plan_targets(ctx, vm->argv, &target, &vm->targets, &vm->n_targets, err);
    if (r < 0 || !ctx->journal) {
        /* --check: what would run, and nothing more. */
        if (r == 0)
            ctx->check_report = describe_argv(vm->argv, opts->qemu_user);
        new_vm_free(vm);
        return r;
    }
    forget_recorded_pid(ctx->record);
    mp_journal_record_set_fact(ctx->record, QEMU_FACT_QMP, opts->qmp_socket);
    mp_journal_record_set_fact(ctx->record, QEMU_FACT_PIDFILE, vm->pidfile);
    *plan = (struct mp_step_plan){ .act = prepare_act, .state = vm, .free_state = new_vm_free };
    return 0;
}

/* Wait for the incoming stream to end, or under postcopy to hand the VM
 * over (*postcopy set): from then on this is the only copy of the guest
 * that may run. -ECONNRESET: QEMU exited, which is what a failed incoming
 * migration does. A failure is asked of query-migrate, which says why. */
static int
wait_incoming(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, bool *postcopy, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + ctx->opts->incoming_timeout_ms;
    /* Finish ahead of its cookie stops following the stream once the
     * cookie comes, and QEMU usually announces the end while Finish checks
     * the cookie and commits: then no query-migrate round trip (0.3 to
     * 0.5 ms here, measured with QMP event timestamps) is left on the
     * guest's pause. */
    if (qemu_monitor_incoming_ended(qmp, postcopy))
        return 0;
    for (;;) {
        struct qemu_migration_info info;
        int r = qemu_monitor_query_migrate(qmp, &info, err);
        if (r < 0)
            return r;
        *postcopy = qemu_migration_postcopy(info.status);
        if (strcmp(info.status, "completed") == 0 || *postcopy)
            return 0;
        if (strcmp(info.status, "failed") == 0 || strcmp(info.status, "cancelled") == 0)
            return mp_error_set(err, EIO, "the incoming stream %s%s%s", info.status,
                                *info.error_desc ? ": " : "", info.error_desc);
        if (mp_now_ms() >= deadline)
            return mp_error_set(err, ETIMEDOUT,
                                "the incoming stream did not complete within %llu ms",
                                (unsigned long long)ctx->opts->incoming_timeout_ms);
        json_object *event = NULL;
        r = qemu_qmp_wait_event(qmp, "MIGRATION", INCOMING_POLL_MS, &event, NULL);
        bool ended = r == 0 && qemu_monitor_event_ends_incoming(event, postcopy);
        json_object_put(event);
        if (ended)
            return 0;
        if (r == -EINTR || mp_interrupted)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
    }
}

/* Whether the incoming VM is past postcopy's switch, by QEMU's own word. */
static bool
in_postcopy(struct qemu_qmp *qmp)
{
    struct qemu_migration_info info;
    return qmp && qemu_monitor_query_migrate(qmp, &info, NULL) == 0 &&
           qemu_migration_postcopy(info.status);
}

/* A postcopy that did not complete: the destination keeps the VM, paused
 * until the stream is recovered over a new connection. */
static int
postcopy_stuck(struct mp_step_ctx *ctx, const char *status, struct mp_error **err)
{
    mp_error_set(err, EPIPE,
                 "the postcopy stream is %s: the guest stays here, waiting for its pages; "
                 "recover the stream with migphase-prepare --resume here, then "
                 "migphase-perform --resume on the source ('migphase-status --state-dir %s' "
                 "prints both)",
                 status, ctx->opts->state_dir);
    return mp_error_left_state(err);
}

/* After the switch, wait for the last page. A postcopy not completed
 * within the incoming timeout (a cut link TCP has not noticed) is paused
 * with migrate-pause, which closes its connection, so that it can be
 * recovered instead of hanging. Never failed or discarded here. */
static int
wait_postcopy(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + ctx->opts->incoming_timeout_ms;
    for (;;) {
        struct qemu_migration_info info;
        int r = qemu_monitor_query_migrate(qmp, &info, err);
        if (r < 0) {
            mp_error_prefix(err, "following the postcopy stream");
            return mp_error_left_state(err);
        }
        if (strcmp(info.status, "completed") == 0)
            return 0;
        if (strcmp(info.status, "postcopy-active") != 0)
            return postcopy_stuck(ctx, info.status, err);
        if (mp_now_ms() >= deadline) {
            mp_warn("the postcopy stream did not complete within %llu ms: pausing it",
                    (unsigned long long)ctx->opts->incoming_timeout_ms);
            (void)qemu_qmp_execute(qmp, "migrate-pause", NULL, NULL, NULL);
            return postcopy_stuck(ctx, "paused (it did not complete in time)", err);
        }
        r = qemu_qmp_wait_event(qmp, "MIGRATION", INCOMING_POLL_MS, NULL, NULL);
        if (r == -EINTR || mp_interrupted) {
            mp_error_set(err, EINTR, "interrupted by signal %d during postcopy",
                         (int)mp_interrupted);
            return mp_error_left_state(err);
        }
    }
}

/* Kill the incoming VM, unless it already runs the guest: after that point
 * the destination is the only copy that may run. */
static int
discard_vm(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, pid_t pid, struct mp_error **err)
{
    _cleanup_free_ char *status = NULL;
    if (qmp && qemu_monitor_status(qmp, &status, NULL) == 0 && strcmp(status, "running") == 0) {
        mp_error_set(err, EPERM,
                     "the destination VM already runs: the migration completed; run "
                     "migphase-confirm without --cancelled on the source");
        return mp_error_left_state(err);
    }
    /* Under postcopy, paused or not, this VM holds pages the source lost. */
    if (in_postcopy(qmp)) {
        mp_error_set(err, EPERM,
                     "refusing to stop the destination VM: postcopy started, it holds the "
                     "guest's newest memory; recover the stream instead (migphase-status)");
        return mp_error_left_state(err);
    }
    int r = qmp ? qemu_monitor_quit(qmp, pid, ctx->opts, err)
                : mp_proc_terminate(pid, ctx->opts->exit_timeout_ms, err);
    if (r < 0) {
        mp_error_prefix(err, "stopping the destination VM");
        return mp_error_left_state(err);
    }
    /* The VM that used them is gone: the images Prepare made go too. */
    qemu_storage_remove_targets(ctx->record);
    return 0;
}

/* The source completed its mirrors before the stream did: the export has
 * nothing more to receive, and must be closed before the guest runs here. */
static int
stop_export(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    if (!mp_journal_record_get_fact(ctx->record, QEMU_FACT_NBD))
        return 0;
    int r = qemu_qmp_execute(qmp, "nbd-server-stop", NULL, NULL, err);
    return r < 0 ? mp_error_prefix(err, "closing the disks' NBD export") : 0;
}

static int
fail_incoming(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, pid_t pid, struct mp_error **err)
{
    struct mp_error *discard_err = NULL;
    if (discard_vm(ctx, qmp, pid, &discard_err) < 0) {
        mp_error_prefix(err, "%s; and then", discard_err->message);
        mp_error_free(discard_err);
        return mp_error_left_state(err);
    }
    return -(*err)->errnum;
}

/* What Finish's plan found: the VM's monitor (NULL: it is gone) and pid,
 * and whether QEMU already said the incoming stream completed (Finish
 * ahead of its cookie followed it), which it never takes back. */
struct incoming_vm {
    struct qemu_qmp *qmp;
    pid_t pid;
    bool completed;
};

static void
incoming_vm_free(void *state)
{
    struct incoming_vm *vm = state;
    qemu_qmp_close(vm->qmp);
    free(vm);
}

/* Let the guest run here: Finish's cont, after which the source never
 * runs again. Under postcopy the destination QEMU (started with -S, so
 * autostart off) stays paused once the switch arrives until this cont;
 * QEMU 7.2 takes it either while still "inmigrate" (it then starts the CPUs
 * itself at the switch) or after. */
static int
resume_here(struct mp_step_ctx *ctx, struct incoming_vm *vm, struct mp_error **err)
{
    if (ctx->in->params.paused)
        return 0;
    int r = qemu_qmp_execute(vm->qmp, "cont", NULL, NULL, err);
    /* The moment the guest resumed, for its pause end to end. */
    if (r == 0)
        ctx->out->timing.resume_us = qemu_monitor_event_time_us(vm->qmp, "RESUME", 1000);
    return r;
}

/* Postcopy: the guest runs here while the rest of its memory arrives. A
 * failure now never discards the VM (the source no longer has the guest's
 * newest pages): it is left for the recovery, exit 3. */
static int
finish_postcopy(struct mp_step_ctx *ctx, struct incoming_vm *vm, struct mp_error **err)
{
    mp_journal_record_set_fact(ctx->record, MP_FACT_POSTCOPY, MP_FACT_POSTCOPY_STARTED);
    mp_info("postcopy: the guest runs here while its remaining pages arrive");
    int r = resume_here(ctx, vm, err);
    if (r < 0) {
        mp_error_prefix(err, "letting the guest run under postcopy");
        return mp_error_left_state(err);
    }
    return wait_postcopy(ctx, vm->qmp, err);
}

/* Resume the VM once the stream completed (or switched to postcopy), or
 * discard it. */
static int
finish_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct incoming_vm *vm = state;
    if (ctx->cancel) {
        int r = discard_vm(ctx, vm->qmp, vm->pid, err);
        if (r == 0)
            ctx->out->outcome = MP_OUTCOME_CANCELLED;
        return r;
    }
    if (!vm->qmp) {
        mp_error_set(err, ENOENT, "the destination VM is gone: the incoming stream failed");
        return fail_incoming(ctx, NULL, vm->pid, err);
    }
    bool postcopy = false;
    int r = vm->completed ? 0 : wait_incoming(ctx, vm->qmp, &postcopy, err);
    if (r == -ECONNRESET || r == -EPIPE) {
        qemu_qmp_close(steal_ptr(&vm->qmp));
        return fail_incoming(ctx, NULL, vm->pid, err);
    }
    if (r == 0 && postcopy)
        return finish_postcopy(ctx, vm, err);
    if (r == 0)
        r = stop_export(ctx, vm->qmp, err);
    if (r == 0)
        r = resume_here(ctx, vm, err);
    if (r < 0)
        return fail_incoming(ctx, vm->qmp, vm->pid, err);
    return 0;
}

/* Whether the incoming stream may still end in completion: it has not
 * ended yet, nor handed the VM over to postcopy. */
static bool
incoming_underway(const char *status)
{
    return strcmp(status, "completed") != 0 && strcmp(status, "failed") != 0 &&
           strcmp(status, "cancelled") != 0 && !qemu_migration_postcopy(status);
}

/* Wait for QEMU to say something or for input_fd to have something to
 * read: false once it has (or on a signal), true to look at the stream
 * again. Events already received count first. */
static bool
await_event_or_input(struct qemu_qmp *qmp, int input_fd)
{
    if (qemu_qmp_wait_event(qmp, "MIGRATION", 0, NULL, NULL) == 0)
        return true;
    struct pollfd fds[2] = { { .fd = input_fd, .events = POLLIN },
                             { .fd = qemu_qmp_fd(qmp), .events = POLLIN } };
    int n = poll(fds, 2, INCOMING_POLL_MS);
    if ((n < 0 && errno != EINTR) || mp_interrupted)
        return false;
    return n <= 0 || fds[0].revents == 0;
}

/* Follow the incoming stream until it ends or the cookie comes: true when
 * QEMU said it completed. Only queries: nothing here changes the VM. */
static bool
follow_incoming_until_input(struct qemu_qmp *qmp, int input_fd)
{
    for (;;) {
        struct qemu_migration_info info;
        if (qemu_monitor_query_migrate(qmp, &info, NULL) < 0)
            return false;
        if (strcmp(info.status, "completed") == 0)
            return true;
        if (!incoming_underway(info.status) || input_fd < 0 || !await_event_or_input(qmp, input_fd))
            return false;
    }
}

/* Finish ahead of its cookie (the driver's finish_ahead): the monitor
 * open and the stream followed now, so that the cookie's arrival meets a
 * Finish that has only its cookie's checks, the journal's commit and the
 * cont left to do while the guest stands still. A monitor that fails here
 * is dropped: the plan opens its own and says what is wrong. */
void
qemu_finish_ahead(struct mp_step_ctx *ctx, int input_fd)
{
    const char *socket = mp_journal_record_get_fact(ctx->record, QEMU_FACT_QMP);
    struct qemu_qmp *qmp = NULL;
    if (!socket || qemu_monitor_open(socket, ctx->opts, &qmp, NULL) < 0)
        return;
    struct incoming_vm *vm = xzalloc(sizeof(*vm));
    vm->qmp = qmp;
    vm->completed = follow_incoming_until_input(qmp, input_fd);
    ctx->ahead = vm;
    ctx->free_ahead = incoming_vm_free;
}

int
qemu_finish(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    (void)err;
    struct incoming_vm *vm = steal_ptr(&ctx->ahead);
    if (!vm) {
        vm = xzalloc(sizeof(*vm));
        const char *socket = mp_journal_record_get_fact(ctx->record, QEMU_FACT_QMP);
        if (!socket || qemu_monitor_open(socket, ctx->opts, &vm->qmp, NULL) < 0)
            vm->qmp = NULL;
    }
    vm->pid = qemu_recorded_pid(ctx->record);
    *plan = (struct mp_step_plan){ .act = finish_act, .state = vm, .free_state = incoming_vm_free };
    return 0;
}
