/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A two-host world for the engine's tests: a source and a destination state
 * directory, an empty hooks directory, the fake driver's hypervisor file
 * and a directory of cookies, all under one temporary directory (on tmpfs
 * when there is one: the journal fsyncs every commit). Steps run through
 * mp_step_execute() with options parsed from an argv as the helpers parse
 * theirs; a step scripted to crash runs in a child process. The world runs
 * with trust = none (cookies unsigned) unless world_use_pki() gives each
 * host an identity. */
#pragma once

#include "fake-driver.h"
#include "journal.h"

#include <stdbool.h>
#include <time.h>

struct world {
    char *root;
    char *src_state; /* the source host's --state-dir */
    char *dst_state; /* the destination host's */
    char *hooks;     /* --hooks-dir: no hooks */
    char *cookies;   /* cookie files, by name */
    char *hv;        /* the fake hypervisor's directory */
    char *src_pki;   /* the source host's --pki-dir; NULL: trust = none */
    char *dst_pki;   /* the destination host's */
};

/* Flags of a step run. */
enum {
    RUN_CANCELLED = 1 << 0, /* --cancelled */
    RUN_FORCE = 1 << 1,     /* --force */
    RUN_PAUSED = 1 << 2,    /* Begin: --paused */
    RUN_AHEAD = 1 << 3,     /* Perform, Finish: --domain vm1, made ready before the cookie */
    RUN_AHEAD_VM2 = 1 << 4, /* Perform, Finish: --domain vm2 */
};

/* An exit status beyond the helpers' 0-3: the fake driver killed the step. */
#define RUN_CRASHED 100

/* Make a fresh world (and point the fake driver at its hypervisor file), or
 * remove one. */
void world_setup(struct world *w);
void world_teardown(struct world *w);

/* Switch the world to trust = x509: each host signs what it writes with
 * the identity in its PKI directory and verifies what it reads with the CA
 * there; Prepare refuses Begin cookies signed more than max_age s ago. */
void world_use_pki(struct world *w, const char *src_pki, const char *dst_pki, unsigned max_age);
/* Sign cookie `name` (its signature, if any, dropped first) with the
 * identity in pki_dir, as signed at `when`, into cookie `to`. */
void world_sign(const struct world *w, const char *name, const char *to, const char *pki_dir,
                time_t when);
/* Write cookie `name` without its signature into cookie `to`. */
void world_unsign(const struct world *w, const char *name, const char *to);

/* The path of a cookie file (newly allocated). */
char *world_cookie(const struct world *w, const char *name);
/* The state directory of the host a step runs on. */
const char *world_state_dir(const struct world *w, enum mp_step step);

/* Run a step as its helper would, with the fake driver, reading cookie `in`
 * and writing cookie `out` (names in the cookies directory, or absolute
 * paths; NULL: none).
 * Returns the exit status (0-3), or RUN_CRASHED when the step was scripted
 * to crash and did. *message (if given) gets the error message or NULL. */
int world_run(struct world *w, enum mp_step step, const char *in, const char *out, unsigned flags,
              enum fake_script script, char **message);

/* The cookie file each step reads and writes when the migration goes
 * forward ("begin.xml" ... "finish.xml"; NULL where there is none). */
extern const char *const world_natural_in[MP_STEP_COUNT];
extern const char *const world_natural_out[MP_STEP_COUNT];
/* The exit status a step ends with under a script when nothing else fails
 * (RUN_CRASHED for the crashes). */
int world_script_status(enum fake_script script);
/* Run a step with its natural cookies and check it ends as its script
 * says (a test's setup: it fails the test otherwise). */
void world_play(struct world *w, enum mp_step step, enum fake_script script, unsigned flags);

/* Tweaks to a forged cookie. */
enum forge {
    FORGE_PLAIN,
    FORGE_OTHER_MIGRATION, /* another migration id, same domain */
    FORGE_OTHER_DOMAIN,    /* same migration id, domain vm2 */
    FORGE_CHANGED,         /* another bandwidth: what check_unchanged guards */
    FORGE_OTHER_HOST,      /* its writer names itself WORLD_OTHER_HOST */
    FORGE_BAD_HOST,        /* its writer's host name is not a host name */
    FORGE_EXEC_URI,        /* the stream URI is a command (exec:) */
};

/* A host the world's two hosts (both named mp_host_name()) are not. */
#define WORLD_OTHER_HOST "elsewhere.example"

/* Write cookie `name` as if `step` of the migration begun by cookie `begin`
 * had written it with `outcome` (fields a step adds are filled in). It is
 * never byte for byte one a step wrote (it carries driver data of its own). */
void world_forge(const struct world *w, const char *begin, const char *name, enum mp_step step,
                 enum mp_outcome outcome, enum forge forge);

/* The record of a domain on a host (by the step's role), or NULL. */
struct mp_journal_record *world_record(const struct world *w, enum mp_role role,
                                       const char *domain);
/* The record file's bytes, or NULL when there is none. */
char *world_record_text(const struct world *w, enum mp_role role, const char *domain);
/* Whether a domain has a journal directory on a host. */
bool world_has_journal(const struct world *w, enum mp_role role, const char *domain);
/* A file's bytes, or NULL when it does not exist. */
char *world_read(const char *path);
/* A parsed cookie file, or NULL when it does not exist (a cookie that does
 * not parse aborts the test). A signature is dropped, not checked. */
struct mp_cookie *world_read_cookie(const struct world *w, const char *name);
/* Keep a copy of the whole world (journals, cookies, VMs) beside it, and
 * put it back: a scenario is built once and each case starts from it. Paths
 * inside the world (journal facts) stay valid: the world keeps its place. */
void world_save(struct world *w);
void world_restore(struct world *w);
/* Remove the journal of a role and domain, as if this host never saw it. */
void world_forget(const struct world *w, enum mp_role role, const char *domain);

/* The indices 0..n-1, in memory Criterion owns: the parameters of a
 * parameterized test over the rows of a table. */
size_t *world_indices(size_t n);
