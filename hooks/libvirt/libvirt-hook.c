/* migphase-libvirt-hook: a libvirt qemu hook for sites that let libvirt move
 * their VMs but want migphase's Prepare site hooks (and their vetoes) and a
 * journal record of every incoming migration. Installed as an executable in
 * /etc/libvirt/hooks/qemu.d/ (docs/hooks.md).
 *
 * libvirt (docs/hooks.rst, src/util/virhook.c) runs each executable there as
 *   HOOK GUEST_NAME OPERATION SUB_OPERATION EXTRA
 * with the full domain XML on stdin and a filtered environment (LC_ALL=C,
 * PATH, HOME, USER, LOGNAME). For "migrate begin", called on the destination
 * as an incoming migration starts (libvirt >= 0.9.11; qemu.d >= 6.5.0), a
 * non-zero exit cancels the migration, its stderr goes into libvirt's error,
 * and what it prints on stdout replaces the domain XML (nothing: unchanged).
 *
 * For that call this program records the migration in the destination
 * journal, runs the Prepare site hooks with a cookie made from the domain
 * XML, and turns a veto into a refusal. Every other call is answered at
 * once with success and no output. It reads /etc/migphase/migphase.conf as
 * migphase-prepare does (hooks-dir, state-dir, user, log-level). */
#include "config.h"

#include "cookie.h"
#include "facts.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "options.h"
#include "privs.h"
#include "proc.h"
#include "xml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Domain XML is written by libvirtd, but bounds keep a mistake cheap: far
 * above the largest domains (thousands of devices). */
static const struct mp_xml_limits domain_xml_limits = {
    .max_bytes = 16 * 1024 * 1024,
    .max_elements = 1024 * 1024,
    .max_attributes = 256,
};

static const char usage[] =
    "Usage: migphase-libvirt-hook GUEST_NAME OPERATION SUB_OPERATION EXTRA < DOMAIN_XML\n"
    "\n"
    "A libvirt qemu hook (install it in /etc/libvirt/hooks/qemu.d/). On\n"
    "'migrate begin' it runs migphase's Prepare site hooks for the incoming VM\n"
    "and records the migration in the journal; a hook's veto cancels the\n"
    "migration. Other operations are accepted without doing anything.";

/* The domain's UUID from its XML, or NULL (the hooks do without). Read
 * with the reader cookies use: no DOCTYPE, entity or network access. */
static char *
domain_uuid(const char *xml, size_t len)
{
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_xml_read(xml, len, &domain_xml_limits, &doc, &err) < 0) {
        mp_debug("leaving the UUID out: the domain XML does not parse: %s", err->message);
        return NULL;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    for (xmlNode *n = root ? root->children : NULL; n; n = n->next) {
        if (!mp_xml_is_element(n, "uuid"))
            continue;
        _cleanup_free_ char *uuid = mp_xml_text(n);
        if (strlen(uuid) == 36)
            return steal_ptr(&uuid);
    }
    return NULL;
}

/* The cookie the hooks read, as if a Begin on the source had written it: what
 * libvirt tells us, the domain XML as the description. */
static int
make_cookie(const char *name, const char *xml, size_t len, struct mp_cookie **out, char **text,
            size_t *text_len, struct mp_error **err)
{
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(MP_STEP_BEGIN);
    c->migration_id = mp_uuid_new();
    c->driver = xstrdup("qemu");
    c->domain_name = xstrdup(name);
    c->domain_uuid = domain_uuid(xml, len);
    c->destination.hostname = mp_host_name();
    c->destination.host_id = mp_host_id();
    mp_cookie_set_data(c, MP_FACT_MANAGER, MP_FACT_MANAGER_LIBVIRT);
    c->description_format = xstrdup("libvirt-xml");
    c->description_text = xstrndup(xml, len);
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

static int
incoming(const struct mp_options *opts, const char *name, const char *xml, size_t len,
         struct mp_error **err)
{
    int r = mp_journal_check_domain(name, err);
    if (r < 0)
        return mp_error_prefix(err, "cannot record the migration of %s", name);
    _cleanup_cookie_ struct mp_cookie *begin = NULL;
    _cleanup_free_ char *begin_xml = NULL;
    size_t begin_len = 0;
    r = make_cookie(name, xml, len, &begin, &begin_xml, &begin_len, err);
    if (r < 0)
        return r;

    _cleanup_journal_ struct mp_journal *journal = NULL;
    r = mp_journal_open(opts->state_dir, name, MP_ROLE_DESTINATION, &journal, err);
    if (r < 0)
        return r;
    _cleanup_record_ struct mp_journal_record *old = NULL;
    _cleanup_error_ struct mp_error *load_err = NULL;
    r = mp_journal_load(journal, &old, &load_err);
    if (r < 0 && r != -ENOENT) {
        *err = steal_ptr(&load_err);
        return mp_error_prefix(err, "refusing to touch domain %s", name);
    }
    if (old && !old->closed)
        return mp_error_set(err, EBUSY,
                            "domain %s has an unfinished migphase migration %s on this host; "
                            "resolve it first: migphase-status %s",
                            name, old->migration_id, name);

    /* Written before the hooks' side effects, as every step does. */
    _cleanup_record_ struct mp_journal_record *rec = mp_journal_record_new();
    rec->migration_id = xstrdup(begin->migration_id);
    rec->domain = xstrdup(name);
    rec->uuid = xstrdup(begin->domain_uuid ? begin->domain_uuid : "-");
    rec->driver = xstrdup("qemu");
    rec->role = MP_ROLE_DESTINATION;
    rec->step = MP_STEP_PREPARE;
    rec->outcome = MP_OUTCOME_NONE;
    mp_journal_record_set_fact(rec, MP_FACT_MANAGER, MP_FACT_MANAGER_LIBVIRT);
    r = mp_journal_save_cookie(journal, MP_STEP_PREPARE, false, begin_xml, begin_len, err);
    if (r == 0)
        r = commit(journal, rec, MP_PHASE_STARTED, err);
    if (r < 0)
        return r;

    _cleanup_cookie_ struct mp_cookie *out = mp_cookie_derive(begin, MP_STEP_PREPARE);
    struct mp_hook_run run = {
        .hooks_dir = opts->hooks_dir,
        .step = MP_STEP_PREPARE,
        .role = MP_ROLE_DESTINATION,
        .domain = name,
        .uuid = begin->domain_uuid,
        .migration_id = begin->migration_id,
        .peer_host = NULL, /* libvirt does not say where the VM comes from */
        .outcome = MP_OUTCOME_NONE,
        .cookie = begin_xml,
        .cookie_len = begin_len,
        .timeout_ms = MP_HOOK_DEFAULT_TIMEOUT_MS,
    };
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
    /* libvirt owns the VM from here on: nothing is pending for migphase. */
    rec->outcome = MP_OUTCOME_SUCCESS;
    rec->closed = true;
    rec->message = xstrdup(out->outcome_message);
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

static int
run(int argc, char **argv, struct mp_error **err)
{
    if (argc != 5)
        return mp_error_input(err, EINVAL, "expected 4 arguments, as libvirt gives them\n%s",
                              usage);
    /* libvirt writes the domain XML to every hook: take it all, whatever the
     * operation, so that it never sees a closed pipe. */
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    int r = mp_read_fd(STDIN_FILENO, domain_xml_limits.max_bytes, &xml, &len, err);
    if (r < 0)
        return mp_error_prefix(err, "reading the domain XML");
    if (strcmp(argv[2], "migrate") != 0 || strcmp(argv[3], "begin") != 0)
        return 0;

    /* The configuration file only: libvirt's arguments are not options. */
    struct mp_options opts;
    char *config_argv[] = { argv[0], NULL };
    r = mp_options_parse(&opts, MP_PROG_PREPARE, usage, 1, config_argv, err);
    if (r >= 0)
        r = mp_privs_drop(0, 0, opts.user, err);
    if (r >= 0)
        r = incoming(&opts, argv[1], xml, len, err);
    mp_options_free(&opts);
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
