/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A hypervisor driver for the engine's tests: no hypervisor, no process, no
 * network. Its "hypervisor" is a directory with a small text file per domain
 * that says what the VM is doing on each host (both hosts of a test share
 * it, as the stream ties them); its plans and acts follow a script the test
 * sets for each step:
 * succeed, fail cleanly, fail leaving state, or die at a chosen point. Tests
 * run the engine (mp_step_execute) with it and then look at the exit status,
 * the journal, the cookie written and the VM.
 *
 * What each step does to the fake VM when it succeeds:
 *   Begin    nothing (it describes the VM; it fails unless the source VM runs
 *            or is paused)
 *   Prepare  destination: absent -> incoming (a leftover VM of an interrupted
 *            run is replaced; a VM that runs there already makes it fail)
 *   Perform  source: running/paused -> migrating -> migrated, and the stream
 *            is marked complete; it fails if the destination is not incoming
 *   Finish   destination: incoming -> running (paused with --paused) when the
 *            stream completed, else it discards the VM and fails;
 *            cancelled: incoming -> absent, outcome "cancelled"
 *   Confirm  source: -> absent (quit); cancelled: -> running again (paused if
 *            it was paused before Perform); a source already absent is left
 *
 * Like the real drivers, the fake refuses only what the hypervisor alone can
 * know: Finish --cancelled will not kill a destination that runs (QEMU's
 * and libxl's Finish check the VM's run state). Everything the journal or
 * the cookie can tell (did the stream complete? may the source resume?) is
 * the engine's to decide, so the fake does what it is told there: Confirm
 * quits the source whatever the stream did, Confirm --cancelled resumes it
 * whatever the destination does. A test that sees a source quit or resumed
 * wrongly has found a hole in the engine's rules, not in the fake. */
#pragma once

#include "driver.h"

#include <stdbool.h>

/* What a step's plan and act do, set per step with fake_script(). */
enum fake_script {
    FAKE_SUCCEED,
    FAKE_FAIL_PLAN,       /* the plan fails (an I/O error, exit 1): it touched nothing */
    FAKE_FAIL_ACT,        /* the act fails and undoes what it did (exit 1) */
    FAKE_FAIL_LEFT_STATE, /* the act fails half-way (mp_error_left_state, exit 3) */
    FAKE_REFUSE_PLAN,     /* the plan refuses its input (mp_error_input, exit 2) */
    FAKE_CRASH_PLAN,      /* _exit(FAKE_CRASH_STATUS) in the plan */
    FAKE_CRASH_ACT,       /* _exit in the act, before its side effect */
    FAKE_CRASH_AFTER,     /* _exit in the act, after its side effect */
    FAKE_SCRIPT_COUNT,
};

/* The exit status of a process the fake killed. */
#define FAKE_CRASH_STATUS 86

/* The VM's state on both hosts, as the fake hypervisor keeps it. */
struct fake_hv {
    enum mp_vm_state source;      /* ABSENT, RUNNING, PAUSED, MIGRATING, MIGRATED */
    enum mp_vm_state destination; /* ABSENT, INCOMING, RUNNING, PAUSED, FAILED */
    bool stream_completed;        /* the last stream reached the destination whole */
};

/* Point the fake at its hypervisor directory, where domain vm1 runs on the
 * source (every other domain is absent on both hosts), and reset the
 * scripts to FAKE_SUCCEED. */
void fake_init(const char *hv_dir);
/* The same for a directory whose VMs are kept as they are. */
void fake_init_keep(const char *hv_dir);
/* Read or replace what a domain's VM does. */
void fake_hv_read(const char *domain, struct fake_hv *hv);
void fake_hv_write(const char *domain, const struct fake_hv *hv);
/* Set what a step's plan and act do from now on (in this process). */
void fake_script(enum mp_step step, enum fake_script script);
/* How many times a step's plan and its act ran in this process. */
unsigned fake_plan_calls(enum mp_step step);
unsigned fake_act_calls(enum mp_step step);
/* How many times Finish --domain's finish_ahead ran, and how many of the
 * plans took over what it readied. */
void fake_ahead_calls(unsigned *called, unsigned *taken);
const char *fake_script_name(enum fake_script script);

/* The driver table; its name is "fake", and so is the cookies' driver. */
extern const struct mp_driver fake_driver;

/* The facts the fake's steps record: the domain's hypervisor file, so that
 * the probe finds the VM again from a journal record (as QEMU's finds its
 * socket), and whether the source VM ran before Perform touched it. */
#define FAKE_FACT_HV          "fake-hv"
#define FAKE_FACT_WAS_RUNNING "fake-was-running"

/* Where Prepare says to send the stream: a TCP address, the only kind
 * Perform sends to (mp_rule_check_input). The fake never dials it. */
#define FAKE_URI "tcp:127.0.0.1:49152"
