/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One ssh connection to the destination for a whole run of migphase-migrate.
 *
 * With --transport 'ssh ... HOST', each destination step (Prepare, Finish,
 * and Finish --cancelled on a failure) would open a connection of its own:
 * a TCP handshake, a key exchange and an authentication each, and as many
 * again for every domain of a --jobs run. Instead a master connection
 * (ssh -M -N) is opened once before the first step, in a private directory
 * of its own, and every step goes through it (ControlMaster=no with its
 * ControlPath): a step costs a channel on an open connection. The master
 * runs in a session of its own, so that a Ctrl-C meant for the migration
 * does not cut the connection the undoing steps still need; it ends with
 * the run.
 *
 * A master that cannot connect is no failure: the steps connect on their
 * own as before (ssh falls back when its control socket is not there), and
 * their own errors say why. Any other transport is left as it is. */
#include "config.h"

#include "migrate.h"

#include "log.h"
#include "proc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the master may take to connect and authenticate. */
#define MASTER_CONNECT_MS 30000
#define MASTER_POLL_MS    10

/* The transport's words when its program is ssh, else NULL. */
static char **
ssh_words(const char *transport)
{
    if (!transport)
        return NULL;
    char **words = mp_proc_split_command(transport);
    if (!words || !words[0]) {
        mp_strv_free(words);
        return NULL;
    }
    const char *base = strrchr(words[0], '/');
    if (strcmp(base ? base + 1 : words[0], "ssh") != 0) {
        mp_strv_free(words);
        return NULL;
    }
    return words;
}

/* words[0], the options, then words[1...]: ssh takes its options before
 * the host. */
static char **
with_options(char *const *words, char *const *options)
{
    char **argv = mp_strv_append(NULL, words[0]);
    for (size_t i = 0; options[i]; i++)
        argv = mp_strv_append(argv, options[i]);
    for (size_t i = 1; words[i]; i++)
        argv = mp_strv_append(argv, words[i]);
    return argv;
}

/* The words joined by blanks, as --transport is given. */
static char *
joined(char *const *words)
{
    size_t len = 1;
    for (size_t i = 0; words[i]; i++)
        len += strlen(words[i]) + 1;
    char *s = xmalloc(len), *p = s;
    for (size_t i = 0; words[i]; i++)
        p += sprintf(p, "%s%s", i ? " " : "", words[i]);
    *p = '\0';
    return s;
}

static pid_t
spawn_master(char *const *argv)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setsid();
    /* A run killed outright leaves no connection behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Wait until the master listens on its control socket (ssh makes it once
 * the connection is authenticated): true, or false if the master exited or
 * took too long. */
static bool
wait_listening(pid_t pid, const char *control)
{
    uint64_t deadline = mp_now_ms() + MASTER_CONNECT_MS;
    while (mp_now_ms() < deadline && !mp_interrupted) {
        struct stat st;
        if (lstat(control, &st) == 0 && S_ISSOCK(st.st_mode))
            return true;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return false;
        mp_sleep_ms(MASTER_POLL_MS);
    }
    return false;
}

static void
remove_dir(struct ssh_master *m)
{
    if (!m->dir)
        return;
    _cleanup_free_ char *control = xasprintf("%s/master", m->dir);
    (void)unlink(control);
    (void)rmdir(m->dir);
    free(steal_ptr(&m->dir));
}

static void
end_master(struct ssh_master *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGTERM);
        while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        m->pid = 0;
    }
    remove_dir(m);
}

void
ssh_master_start(struct mp_options *o, struct ssh_master *m)
{
    *m = (struct ssh_master){ 0 };
    _cleanup_strv_ char **words = ssh_words(o->transport);
    if (!words)
        return;
    /* Under /tmp, not $TMPDIR: a socket path has 108 bytes, and the
     * transport is split on blanks. */
    char tmpl[] = "/tmp/migphase-ssh.XXXXXX";
    if (!mkdtemp(tmpl)) {
        mp_warn("no ssh master connection (each step connects on its own): cannot make "
                "its directory: %s",
                strerror(errno));
        return;
    }
    m->dir = xstrdup(tmpl);
    _cleanup_free_ char *path_option = xasprintf("ControlPath=%s/master", m->dir);
    char *master_options[] = { "-M", "-N", "-o", "ControlPersist=no", "-o", path_option, NULL };
    _cleanup_strv_ char **argv = with_options(words, master_options);
    m->pid = spawn_master(argv);
    _cleanup_free_ char *control = xasprintf("%s/master", m->dir);
    if (m->pid < 0 || !wait_listening(m->pid, control)) {
        mp_warn("no ssh master connection to the destination (each step connects on its own)");
        end_master(m);
        return;
    }
    char *step_options[] = { "-o", "ControlMaster=no", "-o", path_option, NULL };
    _cleanup_strv_ char **steps = with_options(words, step_options);
    free(o->transport);
    o->transport = joined(steps);
    mp_info("one ssh connection to the destination for every step: %s", o->transport);
}

void
ssh_master_stop(struct ssh_master *m)
{
    end_master(m);
}
