/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-libvirt-hook: a libvirt qemu hook for sites that let libvirt move
 * their VMs but want migphase's Prepare site hooks (their vetoes and their
 * undo) and a journal record of every incoming migration. Installed as an
 * executable in /etc/libvirt/hooks/qemu.d/ (docs/hooks.md).
 *
 * libvirt (docs/hooks.rst, src/util/virhook.c) runs each executable there as
 *   HOOK GUEST_NAME OPERATION SUB_OPERATION EXTRA
 * with the full domain XML, secrets included (it is formatted with
 * VIR_DOMAIN_XML_SECURE), on stdin and a filtered environment (LC_ALL=C,
 * PATH, HOME, USER, LOGNAME). On the destination of a migration it calls, in
 * this order (libvirt 9.0, as tests/hooks/libvirt-real.sh sees it):
 *   migrate begin    as the incoming migration starts; a non-zero exit
 *                    cancels it, stderr goes into libvirt's error
 *   prepare begin, start begin
 *   started begin    once the destination QEMU runs, still paused, waiting
 *                    for the stream: NOT when the migration has succeeded
 *   stopped end, release end
 *                    when the destination QEMU goes: the incoming migration
 *                    failed (QEMU died, the source cancelled), or, any time
 *                    later, the VM stopped or left
 * libvirt calls no hook on the destination when an incoming migration
 * succeeds. So this program keeps the record pending from "migrate begin" and
 * settles it at the next "started" or "stopped" by asking libvirt's status
 * file of the domain (read only, never kept) whether its incoming migration
 * is still on: at "stopped" with the job on, or the VM still paused for the
 * migration (libvirt ends the job first when QEMU dies before the stream),
 * the migration failed and the Prepare hooks are called again to undo their
 * work (MIGPHASE_OUTCOME=failed); otherwise the VM ran here, the migration
 * had succeeded, and the Finish hooks report it. A
 * "started" with the job on leaves a watcher behind (watch_incoming) that
 * settles the success as soon as the status file shows it. Every other call
 * does nothing.
 *
 * The domain XML is never written anywhere as libvirt gives it: the hooks'
 * cookie carries a copy without its secrets (passwd attributes, <secret> and
 * <cookies> elements), and nothing else of it is kept.
 *
 * It reads /etc/migphase/migphase.conf as migphase-prepare does (hooks-dir,
 * state-dir, user, log-level). */
#include "config.h"

#include "cookie.h"
#include "facts.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "options.h"
#include "privs.h"
#include "proc.h"
#include "util.h"
#include "xml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

/* Domain XML is written by libvirtd, but bounds keep a mistake cheap: far
 * above the largest domains (thousands of devices). libvirt's status files
 * hold the same XML and a little more. */
static const struct mp_xml_limits domain_xml_limits = {
    .max_bytes = 16 * 1024 * 1024,
    .max_elements = 1024 * 1024,
    .max_attributes = 256,
};

/* Where the system libvirtd (or virtqemud) keeps a running domain's status
 * XML, <domstatus> with its current job: cfg->stateDir of the QEMU driver.
 * The file is written before the "stopped" hook runs and removed before
 * "release". */
#define LIBVIRT_QEMU_STATE_DIR "/run/libvirt/qemu"

/* The real name of the domain, in the record, when the journal's directory
 * has to use an encoded one (journal_name). Private to this program. */
#define FACT_LIBVIRT_DOMAIN "libvirt-domain"
/* What libvirt was seen to do: "started" after the "started" call. */
#define FACT_LIBVIRT_SEEN "libvirt-seen"

/* The journal's directory names are at most this long (journal.h). */
#define JOURNAL_NAME_MAX 128

static const char usage[] =
    "Usage: migphase-libvirt-hook GUEST_NAME OPERATION SUB_OPERATION EXTRA < DOMAIN_XML\n"
    "\n"
    "A libvirt qemu hook (install it in /etc/libvirt/hooks/qemu.d/). On\n"
    "'migrate begin' it runs migphase's Prepare site hooks for the incoming VM\n"
    "and records the migration in the journal; a hook's veto cancels the\n"
    "migration. When the incoming migration fails later it calls the hooks\n"
    "again to undo their work; when it succeeds, it runs the Finish hooks.\n"
    "Other operations are accepted without doing anything.";

/* ---- names ------------------------------------------------------------- */

/* The name of the domain's journal directory. libvirt accepts any name
 * without '/' (and, for defined domains, without a newline); the journal
 * takes 1-128 of letters, digits, '.', '_', '-', not starting with '.'. A
 * name the journal takes is used as it is, so that the record is the one the
 * helpers would use for that domain; any other has every other byte, and
 * '_', written _XX (hex), a leading '.' too ("web server" is web_20server),
 * and, when that is too long, its first 111 characters followed by '-' and a
 * 64-bit hash of the whole name. Two names may still meet in one directory
 * (a helper's domain really called web_20server): the record keeps the real
 * name and a record of another name is never touched. */
static char *
journal_name(const char *name)
{
    if (mp_journal_check_domain(name, NULL) == 0)
        return xstrdup(name);
    static const char keep[] = MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS ".-";
    struct mp_buf b = { 0 };
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p && strchr(keep, *p) && !(p == (const unsigned char *)name && *p == '.'))
            mp_buf_add(&b, p, 1);
        else
            mp_buf_printf(&b, "_%02X", *p);
    }
    char *s = mp_buf_steal(&b, NULL);
    if (strlen(s) > JOURNAL_NAME_MAX) {
        size_t cut = 111;
        /* Never cut an escape in two. */
        while (cut > 0 && (s[cut - 1] == '_' || (cut > 1 && s[cut - 2] == '_')))
            cut--;
        uint64_t h = mp_fnv1a64(MP_FNV1A64_INIT, name, strlen(name));
        char *t = xasprintf("%.*s-%016llx", (int)cut, s, (unsigned long long)h);
        free(s);
        s = t;
    }
    return s;
}

/* The domain's real name as a record holds it. */
static const char *
record_domain(const struct mp_journal_record *rec)
{
    const char *real = mp_journal_record_get_fact(rec, FACT_LIBVIRT_DOMAIN);
    return real ? real : rec->domain;
}

/* ---- the domain XML ---------------------------------------------------- */

/* Remove what libvirt's secure formatting puts in: passwd attributes
 * (<graphics>), <secret> elements (disk and hostdev auth, encryption) and
 * <cookies> (HTTP disk sources). Whatever holds a secret goes, not only the
 * ones libvirt 9.0 writes today. */
static void
strip_secrets(xmlNode *n)
{
    while (n) {
        xmlNode *next = n->next;
        if (n->type == XML_ELEMENT_NODE) {
            if (mp_xml_is_element(n, "secret") || mp_xml_is_element(n, "cookies")) {
                xmlUnlinkNode(n);
                xmlFreeNode(n);
            } else {
                xmlAttr *a = n->properties;
                while (a) {
                    xmlAttr *next_attr = a->next;
                    if (xmlStrcasecmp(a->name, BAD_CAST "passwd") == 0)
                        xmlRemoveProp(a);
                    a = next_attr;
                }
                strip_secrets(n->children);
            }
        }
        n = next;
    }
}

/* What the hooks get from the domain XML: its UUID and the XML without
 * secrets. Read with the reader cookies use: no DOCTYPE, entity or network
 * access, bounded. XML that does not parse gives neither (never the text as
 * it came). */
static void
domain_facts(const char *xml, size_t len, char **uuid, char **description)
{
    *uuid = NULL;
    *description = NULL;
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_xml_read(xml, len, &domain_xml_limits, &doc, &err) < 0) {
        mp_debug("leaving the domain XML out: it does not parse: %s", err->message);
        return;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !mp_xml_is_element(root, "domain"))
        return;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (!mp_xml_is_element(n, "uuid"))
            continue;
        _cleanup_free_ char *text = mp_xml_text(n);
        if (strlen(text) == 36 && !*uuid)
            *uuid = steal_ptr(&text);
    }
    strip_secrets(root);
    *description = mp_xml_serialize(root, false);
}

/* What libvirt's status file of a domain says: whether an incoming migration
 * is still under way and whether the VM runs. Read as libvirt's daemon
 * (root) wrote it, before privileges go; it holds the domain's secrets too,
 * so nothing of it is kept. */
struct libvirt_status {
    bool readable;         /* false: no file (the domain is gone) or not libvirt's */
    bool incoming;         /* its job is "migration in" */
    bool running;          /* <domstatus state="running"> */
    bool paused_migrating; /* state="paused" reason="migration": never resumed */
};

static struct libvirt_status
read_status(const char *name)
{
    struct libvirt_status st = { 0 };
    _cleanup_free_ char *path = xasprintf("%s/%s.xml", LIBVIRT_QEMU_STATE_DIR, name);
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        mp_debug("cannot read libvirt's status of %s: %s: %s", name, path, strerror(errno));
        return st;
    }
    int r = mp_read_fd(fd, domain_xml_limits.max_bytes, &xml, &len, &err);
    close(fd);
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    if (r == 0)
        r = mp_xml_read(xml, len, &domain_xml_limits, &doc, &err);
    if (r < 0) {
        mp_debug("cannot read libvirt's status of %s: %s", name, err->message);
        return st;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !mp_xml_is_element(root, "domstatus"))
        return st;
    st.readable = true;
    _cleanup_free_ char *state = mp_xml_attr(root, "state");
    _cleanup_free_ char *reason = mp_xml_attr(root, "reason");
    st.running = mp_streq0(state, "running");
    st.paused_migrating = mp_streq0(state, "paused") && mp_streq0(reason, "migration");
    for (xmlNode *n = root->children; n; n = n->next) {
        if (!mp_xml_is_element(n, "job"))
            continue;
        _cleanup_free_ char *async = mp_xml_attr(n, "async");
        st.incoming = mp_streq0(async, "migration in");
        break;
    }
    return st;
}

/* ---- the journal ------------------------------------------------------- */

/* The cookie the hooks read, as if a Begin on the source had written it:
 * what libvirt tells us, the domain XML without secrets as the
 * description. */
static int
make_cookie(const char *name, const char *xml, size_t len, struct mp_cookie **out, char **text,
            size_t *text_len, struct mp_error **err)
{
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(MP_STEP_BEGIN);
    c->migration_id = mp_uuid_new();
    c->driver = xstrdup("qemu");
    c->domain_name = xstrdup(name);
    c->destination.hostname = mp_host_name();
    c->destination.host_id = mp_host_id();
    mp_cookie_set_data(c, MP_FACT_MANAGER, MP_FACT_MANAGER_LIBVIRT);
    domain_facts(xml, len, &c->domain_uuid, &c->description_text);
    if (c->description_text)
        c->description_format = xstrdup("libvirt-xml");
    _cleanup_error_ struct mp_error *first = NULL;
    int r = mp_cookie_format(c, text, text_len, &first);
    if (r < 0) {
        /* A UUID libvirt accepts but the schema does not, or an XML too large
         * for a cookie: the hooks do without. */
        mp_debug("leaving the domain XML and UUID out of the cookie: %s", first->message);
        free(steal_ptr(&c->domain_uuid));
        free(steal_ptr(&c->description_format));
        free(steal_ptr(&c->description_text));
        r = mp_cookie_format(c, text, text_len, err);
        if (r < 0)
            return r;
    }
    *out = steal_ptr(&c);
    return 0;
}

static int
commit(struct mp_journal *journal, struct mp_journal_record *rec, enum mp_journal_phase phase,
       struct mp_error **err)
{
    rec->phase = phase;
    return mp_journal_commit(journal, rec, err);
}

/* Open the domain's destination journal and load its record (NULL: none).
 * A record of another domain under the same encoded name is refused. */
static int
open_journal(const struct mp_options *opts, const char *name, struct mp_journal **journal,
             struct mp_journal_record **rec, struct mp_error **err)
{
    _cleanup_free_ char *dir_name = journal_name(name);
    _cleanup_journal_ struct mp_journal *j = NULL;
    int r = mp_journal_open(opts->state_dir, dir_name, MP_ROLE_DESTINATION, &j, err);
    if (r < 0)
        return mp_error_prefix(err, "cannot record the migration of %s", name);
    _cleanup_record_ struct mp_journal_record *old = NULL;
    _cleanup_error_ struct mp_error *load_err = NULL;
    r = mp_journal_load(j, &old, &load_err);
    if (r < 0 && r != -ENOENT) {
        *err = steal_ptr(&load_err);
        return mp_error_prefix(err, "refusing to touch domain %s", name);
    }
    if (old && strcmp(record_domain(old), name) != 0)
        return mp_error_set(err, EEXIST,
                            "domain %s has the journal directory of domain %s (%s): "
                            "rename one of them",
                            name, record_domain(old), dir_name);
    *journal = steal_ptr(&j);
    *rec = steal_ptr(&old);
    return 0;
}

/* Whether rec is an incoming libvirt migration that has not concluded. */
static bool
pending_libvirt(const struct mp_journal_record *rec)
{
    return rec && !rec->closed &&
           mp_streq0(mp_journal_record_get_fact(rec, MP_FACT_MANAGER), MP_FACT_MANAGER_LIBVIRT);
}

/* The hook run for this record's Prepare (or Finish) hooks, with its
 * stored cookie. */
static struct mp_hook_run
hook_run(const struct mp_options *opts, const struct mp_journal_record *rec, enum mp_step step,
         const char *cookie, size_t cookie_len, enum mp_outcome outcome)
{
    return (struct mp_hook_run){
        .hooks_dir = opts->hooks_dir,
        .step = step,
        .manager = "libvirt",
        .role = MP_ROLE_DESTINATION,
        .domain = record_domain(rec),
        .uuid = strcmp(rec->uuid, "-") != 0 ? rec->uuid : NULL,
        .migration_id = rec->migration_id,
        .peer_host = NULL, /* libvirt does not say where the VM comes from */
        .outcome = outcome,
        .cookie = cookie,
        .cookie_len = cookie_len,
        .timeout_ms = MP_HOOK_DEFAULT_TIMEOUT_MS,
    };
}

/* "migrate begin": run the Prepare hooks and leave the migration pending. */
static int
incoming(const struct mp_options *opts, const char *name, const char *xml, size_t len,
         struct mp_error **err)
{
    _cleanup_journal_ struct mp_journal *journal = NULL;
    _cleanup_record_ struct mp_journal_record *old = NULL;
    int r = open_journal(opts, name, &journal, &old, err);
    if (r < 0)
        return r;
    if (old && !old->closed)
        return mp_error_set(err, EBUSY,
                            "domain %s has an unfinished migphase migration %s on this host; "
                            "resolve it first: migphase-status %s",
                            name, old->migration_id, old->domain);

    _cleanup_cookie_ struct mp_cookie *begin = NULL;
    _cleanup_free_ char *begin_xml = NULL;
    size_t begin_len = 0;
    r = make_cookie(name, xml, len, &begin, &begin_xml, &begin_len, err);
    if (r < 0)
        return r;

    /* Written before the hooks' side effects, as every step does. */
    _cleanup_free_ char *dir_name = journal_name(name);
    _cleanup_record_ struct mp_journal_record *rec = mp_journal_record_new();
    rec->migration_id = xstrdup(begin->migration_id);
    rec->domain = xstrdup(dir_name);
    rec->uuid = xstrdup(begin->domain_uuid ? begin->domain_uuid : "-");
    rec->driver = xstrdup("qemu");
    rec->role = MP_ROLE_DESTINATION;
    rec->step = MP_STEP_PREPARE;
    rec->outcome = MP_OUTCOME_NONE;
    mp_journal_record_set_fact(rec, MP_FACT_MANAGER, MP_FACT_MANAGER_LIBVIRT);
    if (strcmp(dir_name, name) != 0)
        mp_journal_record_set_fact(rec, FACT_LIBVIRT_DOMAIN, name);
    r = mp_journal_save_cookie(journal, MP_STEP_PREPARE, false, begin_xml, begin_len, err);
    if (r == 0)
        r = commit(journal, rec, MP_PHASE_STARTED, err);
    if (r < 0)
        return r;

    _cleanup_cookie_ struct mp_cookie *out = mp_cookie_derive(begin, MP_STEP_PREPARE);
    struct mp_hook_run run =
        hook_run(opts, rec, MP_STEP_PREPARE, begin_xml, begin_len, MP_OUTCOME_NONE);
    r = mp_hooks_run(&run, out, err);
    if (r < 0) {
        /* A veto leaves nothing behind: the hooks before it undid their
         * part, and the record goes. */
        mp_journal_remove(journal, NULL);
        return mp_error_prefix(err, "prepare hooks");
    }

    out->outcome = MP_OUTCOME_SUCCESS;
    out->outcome_message = xstrdup("incoming migration run by libvirt; the Prepare hooks ran");
    _cleanup_free_ char *out_xml = NULL;
    size_t out_len = 0;
    r = mp_cookie_format(out, &out_xml, &out_len, err);
    if (r == 0)
        r = mp_journal_save_cookie(journal, MP_STEP_PREPARE, true, out_xml, out_len, err);
    /* Pending until libvirt's next call says how the migration ended. */
    rec->outcome = MP_OUTCOME_SUCCESS;
    rec->message = xstrdup("incoming migration run by libvirt: the Prepare hooks ran; "
                           "waiting for libvirt to start or stop the VM");
    if (r == 0)
        r = commit(journal, rec, MP_PHASE_DONE, err);
    if (r < 0) {
        run.outcome = MP_OUTCOME_FAILED;
        mp_hooks_run(&run, NULL, NULL);
        mp_journal_remove(journal, NULL);
        return mp_error_prefix(err, "recording the migration");
    }
    return 0;
}

/* Close a pending record. Success: the Finish hooks report it, as after a
 * Finish of migphase's own (a lease moves to this host). Failure: the
 * Prepare hooks are called again to undo their work. */
static int
conclude(const struct mp_options *opts, struct mp_journal *journal, struct mp_journal_record *rec,
         bool success, const char *why, struct mp_error **err)
{
    _cleanup_free_ char *cookie = NULL;
    size_t cookie_len = 0;
    _cleanup_error_ struct mp_error *cookie_err = NULL;
    if (mp_journal_load_cookie(journal, MP_STEP_PREPARE, false, &cookie, &cookie_len, &cookie_err) <
        0)
        mp_warn("calling the hooks without a cookie: %s", cookie_err->message);
    struct mp_hook_run run =
        success ? hook_run(opts, rec, MP_STEP_FINISH, cookie, cookie_len, MP_OUTCOME_SUCCESS)
                : hook_run(opts, rec, MP_STEP_PREPARE, cookie, cookie_len, MP_OUTCOME_FAILED);
    mp_hooks_run(&run, NULL, NULL);
    rec->step = MP_STEP_FINISH;
    rec->outcome = success ? MP_OUTCOME_SUCCESS : MP_OUTCOME_FAILED;
    rec->closed = true;
    free(rec->message);
    rec->message = xstrdup(why);
    return commit(journal, rec, success ? MP_PHASE_DONE : MP_PHASE_FAILED, err);
}

/* Whether the domain has a journal record here (of any manager): nothing
 * else of this program touches a domain without one. */
static bool
has_record(const struct mp_options *opts, const char *name)
{
    _cleanup_free_ char *dir_name = journal_name(name);
    _cleanup_free_ char *record_path =
        xasprintf("%s/destination/%s/record", opts->state_dir, dir_name);
    return access(record_path, F_OK) == 0;
}

/* Whether the VM stopped before its incoming migration completed, as
 * libvirt's status file says at "stopped" (or at "release" as libvirt
 * 10.5 and later tell). libvirt ends the "migration in" job before it
 * stops the VM when QEMU dies before the stream: the VM, paused for the
 * migration and never resumed here, says it then. */
static bool
stopped_incoming(const char *op, const char *extra, const struct libvirt_status *st)
{
    if (st->incoming || st->paused_migrating)
        return true;
    return strcmp(op, "release") == 0 &&
           (strcmp(extra, "failed") == 0 || strcmp(extra, "crashed") == 0);
}

/* Whether the VM ran here after its incoming migration, as far as libvirt's
 * status file (or release's reason) says. */
static bool
ran_after_incoming(const char *op, const char *extra, const struct libvirt_status *st)
{
    if (st->readable)
        return true; /* not stopped_incoming(): the VM was resumed here */
    return strcmp(op, "release") == 0 && strcmp(extra, "-") != 0 && strcmp(extra, "") != 0;
}

/* "started", "stopped", "release": settle a pending incoming migration of
 * the domain, given what libvirt's status file said (read_status). */
static int
settle(const struct mp_options *opts, const char *name, const char *op, const char *extra,
       const struct libvirt_status *st, struct mp_error **err)
{
    if (!has_record(opts, name))
        return 0; /* no migration of ours: the common case, touch nothing */
    _cleanup_journal_ struct mp_journal *journal = NULL;
    _cleanup_record_ struct mp_journal_record *rec = NULL;
    int r = open_journal(opts, name, &journal, &rec, err);
    if (r < 0)
        return r;
    if (!pending_libvirt(rec))
        return 0;

    if (strcmp(op, "started") == 0) {
        if (st->readable && !st->incoming)
            return conclude(opts, journal, rec, true,
                            "libvirt started the VM after the incoming migration", err);
        /* libvirt runs "started" as soon as the destination QEMU runs, paused
         * for the stream: the outcome is still to come. */
        mp_journal_record_set_fact(rec, FACT_LIBVIRT_SEEN, "started");
        return commit(journal, rec, rec->phase, err);
    }
    /* "stopped" (the status file is still there) decides; "release" only
     * when libvirt gives the reason (>= 10.5.0) or "stopped" could not. */
    if (stopped_incoming(op, extra, st))
        return conclude(opts, journal, rec, false,
                        "the incoming migration failed: libvirt stopped the destination VM "
                        "during it; the Prepare hooks were called to undo their work",
                        err);
    if (ran_after_incoming(op, extra, st))
        return conclude(opts, journal, rec, true,
                        "the incoming migration had succeeded: the VM ran here until libvirt "
                        "stopped it",
                        err);
    mp_warn("domain %s stopped, but libvirt's status does not say whether its incoming "
            "migration %s had succeeded: left pending (migphase-status %s)",
            name, rec->migration_id, rec->domain);
    return 0;
}

/* ---- the watcher -------------------------------------------------------- */

/* How often the watcher reads the status file: the Finish hooks (a lease
 * moving here) run at most this long after the guest runs here. */
#define WATCH_INTERVAL_MS 100

/* In the watcher, once libvirt's status shows the migration over and the VM
 * running here: settle the record as the next call would (with privileges
 * dropped as every call does). Messages go to syslog: nobody reads the
 * watcher's stderr. */
static int
settle_watched(const struct mp_options *opts, const char *name)
{
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_privs_drop(0, 0, opts->user, &err);
    struct libvirt_status ran = { .readable = true, .running = true };
    if (r >= 0)
        r = settle(opts, name, "started", "-", &ran, &err);
    if (r < 0)
        syslog(LOG_ERR, "domain %s: settling its incoming migration: %s", name,
               err ? err->message : strerror(-r));
    return r < 0 ? 1 : 0;
}

/* libvirt calls no hook when an incoming migration succeeds. At "started",
 * with the migration still under way, a watcher stays behind: it reads the
 * domain's status file until the migration job is gone, and when the VM
 * then runs here it settles the record as a success (the Finish hooks run).
 * A failure is not its business: libvirt calls "stopped" for it, and the
 * watcher ends when the status file goes. It never calls libvirt (libvirt
 * waits for this hook: a call back deadlocks it), and it keeps none of
 * libvirt's descriptors (libvirt waits for the hook's output to close). */
static void
watch_incoming(const struct mp_options *opts, const char *name)
{
    pid_t child = fork();
    if (child < 0) {
        mp_warn("cannot watch the incoming migration of %s: %s", name, strerror(errno));
        return;
    }
    if (child > 0) {
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        return;
    }
    setsid();
    if (fork() != 0)
        _exit(0);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
        dup2(null, STDERR_FILENO) < 0)
        _exit(1);
    openlog("migphase-libvirt-hook", LOG_PID, LOG_DAEMON);
    uint64_t deadline = mp_now_ms() + opts->incoming_timeout_ms;
    struct libvirt_status st;
    while ((st = read_status(name)).readable && st.incoming && mp_now_ms() < deadline)
        mp_sleep_ms(WATCH_INTERVAL_MS);
    _exit(st.readable && !st.incoming && st.running ? settle_watched(opts, name) : 0);
}

static int
run(int argc, char **argv, struct mp_error **err)
{
    if (argc != 5)
        return mp_error_input(err, EINVAL, "expected 4 arguments, as libvirt gives them\n%s",
                              usage);
    const char *name = argv[1], *op = argv[2], *sub = argv[3], *extra = argv[4];
    /* libvirt writes the domain XML to every hook: take it all, whatever the
     * operation, so that it never sees a closed pipe. */
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    int r = mp_read_fd(STDIN_FILENO, domain_xml_limits.max_bytes, &xml, &len, err);
    if (r < 0)
        return mp_error_prefix(err, "reading the domain XML");
    bool migrate = strcmp(op, "migrate") == 0 && strcmp(sub, "begin") == 0;
    bool later = (strcmp(op, "started") == 0 && strcmp(sub, "begin") == 0) ||
                 (strcmp(op, "stopped") == 0 && strcmp(sub, "end") == 0) ||
                 (strcmp(op, "release") == 0 && strcmp(sub, "end") == 0);
    if (!migrate && !later)
        return 0;
    if (!*name || strchr(name, '/'))
        return mp_error_input(err, EINVAL, "libvirt never names a domain '%s'", name);

    /* The configuration file only: libvirt's arguments are not options. */
    struct mp_options opts;
    char *config_argv[] = { argv[0], NULL };
    r = mp_options_parse(&opts, MP_PROG_PREPARE, usage, 1, config_argv, err);
    if (r < 0)
        return r;
    struct libvirt_status st = later ? read_status(name) : (struct libvirt_status){ 0 };
    /* Forked as root: the watcher reads libvirt's root-only status file. */
    if (strcmp(op, "started") == 0 && st.incoming && has_record(&opts, name))
        watch_incoming(&opts, name);
    r = mp_privs_drop(0, 0, opts.user, err);
    if (r >= 0)
        r = migrate ? incoming(&opts, name, xml, len, err)
                    : settle(&opts, name, op, extra, &st, err);
    mp_options_free(&opts);
    /* The VM is stopped or started whatever we say: only "migrate" can
     * refuse. A failure here is logged (libvirt logs stderr too). */
    if (r < 0 && later) {
        mp_log(MP_LOG_ERROR, "%s", (*err)->message);
        mp_error_free(steal_ptr(err));
        return 0;
    }
    return r;
}

int
main(int argc, char **argv)
{
    /* Not argv[0]: installed as a link with a name of the admin's choice. */
    mp_log_init("migphase-libvirt-hook");
    mp_proc_catch_interrupts();
    _cleanup_error_ struct mp_error *err = NULL;
    int r = run(argc, argv, &err);
    if (r < 0)
        mp_log(MP_LOG_ERROR, "%s", err ? err->message : strerror(-r));
    return mp_exit_status(r, err);
}
