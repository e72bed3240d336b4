/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The steps with signed cookies (trust = x509, engine/trust.c), driven with
 * the fake driver of tests/engine in a two-host world whose hosts have
 * identities from a test PKI made at test time (tests/engine/test-pki.h):
 *
 *  - a whole signed migration succeeds, and every cookie a step hands out
 *    is signed;
 *  - attacks: each hostile cookie is refused with exit 2 and a one-line
 *    error, before the driver is asked anything: the fake VM stays where it
 *    was, both hosts' journal records stay byte for byte as they were, and
 *    no cookie is written.
 *
 * The world's two hosts share one name (mp_host_name(): the helpers have
 * no setting for it), so each has its own key and a certificate for that
 * name. A signer that is not the cookie's writer is played by a host of
 * another name from the same CA ("intruder"). test-engine.c runs the
 * engine's rules without signatures. */
#include "config.h"

#include "facts.h"
#include "sign.h"
#include "test-pki.h"
#include "world.h"

#include <criterion/criterion.h>
#include <string.h>

/* Prepare's limit on a Begin cookie's age here. */
#define MAX_AGE 300

#define INTRUDER "intruder.example"

static struct world w;
static char *host;                       /* both hosts' name */
static char *src, *dst;                  /* their PKI directories */
static char *intruder, *foreign, *other; /* signers they should not believe */

/* A host directory with a certificate for name, valid for a day either way
 * (a cookie signed hours ago was signed while it was valid). */
static char *
host_dir(const char *dir, const char *name, gnutls_x509_crt_t issuer,
         gnutls_x509_privkey_t issuer_key)
{
    struct pki_cert_spec s = pki_host_spec(name);
    s.from = -PKI_DAY;
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_deinit(pki_make_host_with(dir, key, &s, issuer, issuer_key));
    gnutls_x509_privkey_deinit(key);
    if (issuer)
        pki_write_cert(dir, MP_PKI_CA_CERT, issuer);
    return xasprintf("%s/%s", pki_root, dir);
}

static void
setup(void)
{
    pki_setup("test-trust");
    world_setup(&w);
    host = mp_host_name();
    src = host_dir("source", host, NULL, NULL);
    dst = host_dir("destination", host, NULL, NULL);
    intruder = host_dir("intruder", INTRUDER, NULL, NULL);
    /* The right name, from a CA these hosts do not trust. */
    foreign = host_dir("foreign", host, pki_other_ca, pki_other_ca_key);
    /* A host of the same CA named as the world's cookies never name it. */
    other = host_dir("other", WORLD_OTHER_HOST, NULL, NULL);
    world_use_pki(&w, src, dst, MAX_AGE);
}

static void
teardown(void)
{
    world_teardown(&w);
    pki_teardown();
    free(host);
    free(src);
    free(dst);
    free(intruder);
    free(foreign);
    free(other);
}

TestSuite(trust, .init = setup, .fini = teardown, .timeout = 60);

static void
play(enum mp_step step, enum fake_script script, unsigned flags)
{
    world_play(&w, step, script, flags);
}

/* Drive the migration to `step` as it normally gets there. */
static void
reach(enum mp_step step)
{
    for (enum mp_step s = MP_STEP_BEGIN; s < step; s++)
        play(s, FAKE_SUCCEED, 0);
}

static struct fake_hv
vm(void)
{
    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    return hv;
}

static char *
cookie_text(const char *name)
{
    _cleanup_free_ char *path = world_cookie(&w, name);
    return world_read(path);
}

static void
write_cookie(const char *name, const char *text)
{
    _cleanup_free_ char *path = world_cookie(&w, name);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_write_file(path, text, strlen(text), &err), 0, "writing %s", path);
}

/* Cookie `name` with the first `from` in it replaced by `to`, bytes and
 * signature otherwise as they were, into cookie `out`. */
static void
tamper(const char *name, const char *from, const char *to, const char *out)
{
    _cleanup_free_ char *text = cookie_text(name);
    cr_assert_not_null(text, "no cookie %s", name);
    char *at = strstr(text, from);
    cr_assert_not_null(at, "%s has no '%s'", name, from);
    *at = '\0';
    _cleanup_free_ char *changed = xasprintf("%s%s%s", text, to, at + strlen(from));
    write_cookie(out, changed);
}

/* Run `step` on cookie `in` and check that it is refused as an attack: exit
 * 2, one line saying `expect`, the driver not asked, nothing touched. */
static void
expect_attack_refused(enum mp_step step, const char *in, unsigned flags, const char *expect,
                      const char *what)
{
    _cleanup_free_ char *src_before = world_record_text(&w, MP_ROLE_SOURCE, "vm1");
    _cleanup_free_ char *dst_before = world_record_text(&w, MP_ROLE_DESTINATION, "vm1");
    struct fake_hv hv_before = vm();
    unsigned plans = fake_plan_calls(step);
    const char *out = step == MP_STEP_CONFIRM ? NULL : "attack-out.xml";
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, step, in, out, flags, FAKE_SUCCEED, &message);

    cr_assert_eq(status, 2, "%s: %s exited %d (%s)", what, mp_step_name(step), status,
                 message ? message : "no message");
    cr_assert_not_null(message, "%s: no message", what);
    cr_expect_null(strchr(message, '\n'), "%s: a message of more than one line: %s", what, message);
    cr_expect(strstr(message, expect), "%s: the message '%s' does not say '%s'", what, message,
              expect);
    cr_expect_eq(fake_plan_calls(step), plans, "%s: the driver's plan ran", what);
    _cleanup_free_ char *src_after = world_record_text(&w, MP_ROLE_SOURCE, "vm1");
    _cleanup_free_ char *dst_after = world_record_text(&w, MP_ROLE_DESTINATION, "vm1");
    cr_expect(mp_streq0(src_after, src_before), "%s: the source's record changed:\n%s", what,
              src_after ? src_after : "(removed)");
    cr_expect(mp_streq0(dst_after, dst_before), "%s: the destination's record changed:\n%s", what,
              dst_after ? dst_after : "(removed)");
    cr_expect_not(world_has_journal(&w, MP_ROLE_SOURCE, "vm2") ||
                      world_has_journal(&w, MP_ROLE_DESTINATION, "vm2"),
                  "%s: a journal was made for vm2", what);
    struct fake_hv hv = vm();
    cr_expect(hv.source == hv_before.source && hv.destination == hv_before.destination &&
                  hv.stream_completed == hv_before.stream_completed,
              "%s: the VM moved: source %s -> %s, destination %s -> %s", what,
              mp_vm_state_name(hv_before.source), mp_vm_state_name(hv.source),
              mp_vm_state_name(hv_before.destination), mp_vm_state_name(hv.destination));
    if (out) {
        _cleanup_free_ char *written = cookie_text(out);
        cr_expect_null(written, "%s: a cookie was written", what);
    }
}

/* ------------------------------------------------------------------------ */
/* What works. */

Test(trust, signed_migration_succeeds)
{
    for (enum mp_step s = MP_STEP_BEGIN; s < MP_STEP_COUNT; s++) {
        play(s, FAKE_SUCCEED, 0);
        if (!world_natural_out[s])
            continue;
        _cleanup_free_ char *text = cookie_text(world_natural_out[s]);
        cr_assert_not_null(text);
        cr_assert(mp_signature_present(text, strlen(text)), "the %s cookie is not signed",
                  mp_step_name(s));
    }
    struct fake_hv hv = vm();
    cr_assert_eq(hv.source, MP_VM_ABSENT);
    cr_assert_eq(hv.destination, MP_VM_RUNNING);
    _cleanup_record_ struct mp_journal_record *s_rec = world_record(&w, MP_ROLE_SOURCE, "vm1");
    _cleanup_record_ struct mp_journal_record *d_rec = world_record(&w, MP_ROLE_DESTINATION, "vm1");
    cr_assert(s_rec->closed && d_rec->closed, "a record stays open");
    /* Each host recorded both hosts as their signed cookies named them. */
    cr_assert_str_eq(mp_journal_record_get_fact(s_rec, MP_FACT_DESTINATION_HOST), host);
    cr_assert_str_eq(mp_journal_record_get_fact(d_rec, MP_FACT_SOURCE_HOST), host);
}

/* Cookies for recovery are good at any age: only Begin's is dated. */
Test(trust, hours_old_finish_cookie_accepted)
{
    reach(MP_STEP_CONFIRM);
    world_sign(&w, "finish.xml", "old-finish.xml", dst, time(NULL) - 3 * 3600);
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, MP_STEP_CONFIRM, "old-finish.xml", NULL, 0, FAKE_SUCCEED, &message);
    cr_assert_eq(status, 0, "confirm on a Finish cookie 3 h old: %d (%s)", status,
                 message ? message : "no message");
    cr_assert_eq(vm().source, MP_VM_ABSENT);
}

/* A Begin cookie just within cookie-max-age is accepted (the bound is not
 * stricter than configured). */
Test(trust, begin_cookie_within_max_age_accepted)
{
    play(MP_STEP_BEGIN, FAKE_SUCCEED, 0);
    world_sign(&w, "begin.xml", "begin.xml", src, time(NULL) - MAX_AGE + 30);
    play(MP_STEP_PREPARE, FAKE_SUCCEED, 0);
    cr_assert_eq(vm().destination, MP_VM_INCOMING);
}

/* ------------------------------------------------------------------------ */
/* Attacks. */

/* Each step, given the cookie it would get with its signature dropped or
 * re-made by a CA it does not trust. */
Test(trust, unsigned_and_foreign_cookies_refused)
{
    play(MP_STEP_BEGIN, FAKE_SUCCEED, 0);
    for (enum mp_step s = MP_STEP_PREPARE; s < MP_STEP_COUNT; s++) {
        _cleanup_free_ char *what = xasprintf("%s: unsigned", mp_step_name(s));
        world_unsign(&w, world_natural_in[s], "attack.xml");
        expect_attack_refused(s, "attack.xml", 0, "the cookie is not signed", what);
        free(what);
        what = xasprintf("%s: signed by another CA", mp_step_name(s));
        world_sign(&w, world_natural_in[s], "attack.xml", foreign, time(NULL));
        expect_attack_refused(s, "attack.xml", 0, "not issued by this host's CA", what);
        play(s, FAKE_SUCCEED, 0);
    }
}

/* Another host of the same CA signs a Begin cookie that names the source as
 * its writer: Prepare refuses it (the signer must be the writer). */
Test(trust, begin_signed_by_another_host_refused)
{
    play(MP_STEP_BEGIN, FAKE_SUCCEED, 0);
    world_sign(&w, "begin.xml", "attack.xml", intruder, time(NULL));
    expect_attack_refused(MP_STEP_PREPARE, "attack.xml", 0, "signed by " INTRUDER, "begin");
    cr_assert_not(world_has_journal(&w, MP_ROLE_DESTINATION, "vm1"));
}

/* The same for the Finish cookie that would make Confirm quit or resume. */
Test(trust, finish_signed_by_another_host_refused)
{
    reach(MP_STEP_CONFIRM);
    world_sign(&w, "finish.xml", "attack.xml", intruder, time(NULL));
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0, "signed by " INTRUDER, "finish");
}

/* A signed Begin cookie whose step is changed to finish: the signature no
 * longer matches. Given to Confirm it would undo the migration. */
Test(trust, begin_relabelled_as_finish_refused)
{
    reach(MP_STEP_FINISH);
    tamper("begin.xml", "step=\"begin\"", "step=\"finish\"", "attack.xml");
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0, "does not match its content",
                          "relabelled");
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", RUN_CANCELLED,
                          "does not match its content", "relabelled, --cancelled");
}

/* A Finish cookie that said success, changed to say failed: Confirm would
 * resume the source while the destination runs. */
Test(trust, finish_outcome_changed_refused)
{
    reach(MP_STEP_CONFIRM);
    tamper("finish.xml", "result=\"success\"", "result=\"failed\"", "attack.xml");
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0, "does not match its content",
                          "outcome changed");
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", RUN_CANCELLED,
                          "does not match its content", "outcome changed, --cancelled");
    cr_assert_eq(vm().source, MP_VM_MIGRATED);
}

/* A Finish cookie validly signed by the destination, of a migration (or a
 * domain) the source does not know. */
Test(trust, finish_of_unknown_migration_refused)
{
    reach(MP_STEP_CONFIRM);
    world_forge(&w, "begin.xml", "forged.xml", MP_STEP_FINISH, MP_OUTCOME_FAILED,
                FORGE_OTHER_MIGRATION);
    world_sign(&w, "forged.xml", "attack.xml", dst, time(NULL));
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0, "no migration", "another migration");
    world_forge(&w, "begin.xml", "forged.xml", MP_STEP_FINISH, MP_OUTCOME_FAILED,
                FORGE_OTHER_DOMAIN);
    world_sign(&w, "forged.xml", "attack.xml", dst, time(NULL));
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0, "no migration", "another domain");
}

/* A Prepare cookie validly signed by the destination that tells Perform to
 * send the VM to a command or a file. */
Test(trust, stream_uri_not_tcp_refused)
{
    reach(MP_STEP_PERFORM);
    static const char *const uris[] = { "exec:sh -c 'cat > /tmp/vm'", "file:/tmp/vm", "fd:3",
                                        "rdma:127.0.0.1:49152", "tcp:" };
    for (size_t i = 0; i < ARRAY_SIZE(uris); i++) {
        _cleanup_free_ char *uri = xasprintf("uri=\"%s\"", uris[i]);
        tamper("prepare.xml", "uri=\"" FAKE_URI "\"", uri, "tampered.xml");
        world_sign(&w, "tampered.xml", "attack.xml", dst, time(NULL));
        expect_attack_refused(MP_STEP_PERFORM, "attack.xml", 0, "refusing the stream URI", uris[i]);
    }
    cr_assert_eq(fake_act_calls(MP_STEP_PERFORM), 0);
}

/* A Begin cookie signed longer ago than cookie-max-age (a replay), or
 * further in the future than clocks drift. */
Test(trust, stale_begin_cookie_refused)
{
    play(MP_STEP_BEGIN, FAKE_SUCCEED, 0);
    world_sign(&w, "begin.xml", "attack.xml", src, time(NULL) - MAX_AGE - 60);
    expect_attack_refused(MP_STEP_PREPARE, "attack.xml", 0, "more than cookie-max-age", "old");
    world_sign(&w, "begin.xml", "attack.xml", src, time(NULL) + 3600);
    expect_attack_refused(MP_STEP_PREPARE, "attack.xml", 0, "in the future", "future");
    cr_assert_not(world_has_journal(&w, MP_ROLE_DESTINATION, "vm1"));
}

/* A Finish cookie validly signed by the host it names as its writer, but
 * that host is not the destination the source recorded at Perform. */
Test(trust, finish_from_other_destination_refused)
{
    reach(MP_STEP_CONFIRM);
    world_forge(&w, "begin.xml", "forged.xml", MP_STEP_FINISH, MP_OUTCOME_FAILED, FORGE_OTHER_HOST);
    world_sign(&w, "forged.xml", "attack.xml", other, time(NULL));
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0,
                          "destination host " WORLD_OTHER_HOST " is not", "failed");
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", RUN_CANCELLED,
                          "destination host " WORLD_OTHER_HOST " is not", "failed, --cancelled");
    cr_assert_eq(vm().source, MP_VM_MIGRATED);
}

/* A Finish cookie validly signed by the destination that says it resumed,
 * on a source whose Perform did not complete its stream: the source's own
 * journal decides, and the source VM is not stopped. */
static void
confirm_without_stream(enum fake_script perform, const char *what)
{
    reach(MP_STEP_PERFORM);
    play(MP_STEP_PERFORM, perform, 0);
    struct fake_hv before = vm();
    world_forge(&w, "begin.xml", "forged.xml", MP_STEP_FINISH, MP_OUTCOME_SUCCESS, FORGE_PLAIN);
    world_sign(&w, "forged.xml", "attack.xml", dst, time(NULL));
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", 0, "does not say its Perform completed",
                          what);
    expect_attack_refused(MP_STEP_CONFIRM, "attack.xml", RUN_FORCE,
                          "does not say its Perform completed", what);
    cr_assert_neq(before.source, MP_VM_ABSENT);
}

Test(trust, confirm_after_failed_perform_refused)
{
    confirm_without_stream(FAKE_FAIL_ACT, "perform failed");
}

Test(trust, confirm_after_interrupted_perform_refused)
{
    confirm_without_stream(FAKE_CRASH_ACT, "perform crashed before its stream");
}
