/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration cookies: the small XML documents the steps hand to each other.
 * One vocabulary for every step, validated against shared/cookie.rng. */
#pragma once

#include "error.h"
#include "kv.h"
#include "protocol.h"

#include <stdbool.h>
#include <stdint.h>

#define MP_COOKIE_FORMAT_VERSION 1
#define MP_COOKIE_MAX_SIZE       (1024 * 1024)

struct mp_host {
    char *hostname;
    char *host_id; /* /etc/machine-id or the hostname */
};

/* How the stream is sent, beyond one plain TCP stream: chosen at Begin and
 * set alike on both hosts (QEMU refuses a stream whose channels or
 * compression differ from what the destination expects). */
struct mp_tuning {
    uint64_t parallel;           /* multifd channels (1..64); 0: one plain stream */
    enum mp_compress compress;   /* of the multifd channels; needs parallel */
    uint64_t xbzrle_bytes;       /* XBZRLE cache size; 0: off */
    bool auto_converge;          /* throttle the guest's vCPUs when it dirties too fast */
    uint64_t throttle_initial;   /* percent, 1..99 (QEMU's default 20) */
    uint64_t throttle_step;      /* percent, 1..99 (QEMU's default 10) */
    enum mp_converge converge;   /* Perform steers a stream that does not converge */
    bool postcopy;               /* a switch to postcopy is allowed (--converge auto's last step) */
    bool postcopy_after_precopy; /* switch after the first pass (implies postcopy) */
};

#define MP_TUNING_MAX_PARALLEL     64
#define MP_TUNING_MIN_XBZRLE       (1ull << 20)
#define MP_TUNING_MAX_XBZRLE       (1ull << 40)
#define MP_TUNING_THROTTLE_INITIAL 20
#define MP_TUNING_THROTTLE_STEP    10

/* Migration parameters: set by Begin, honoured by every later step. */
struct mp_params {
    bool live;                         /* false: --offline (pause first, then send) */
    uint64_t bandwidth_mib;            /* MiB/s; 0 means unlimited */
    uint64_t downtime_ms;              /* 0 means the hypervisor's default */
    bool paused;                       /* keep the destination paused after Finish */
    uint64_t timeout_s;                /* bound on the stream; 0 means none */
    enum mp_tls_mode tls;              /* Begin's request for the stream */
    enum mp_copy_storage copy_storage; /* Begin: which disks travel with the VM */
    struct mp_tuning tuning;
};

/* Figures about the stream, written by Perform. */
struct mp_stats {
    bool present;
    uint64_t total_ms;
    uint64_t downtime_ms;
    uint64_t setup_ms;
    uint64_t transferred_bytes;
    uint64_t total_bytes; /* guest RAM size */
    uint64_t iterations;  /* dirty-sync passes */
    uint64_t mbps_x1000;  /* throughput in Mbit/s times 1000 */
    /* Finish: how long the guest stood still, from the source's stop to the
     * destination's resume, and how far off that can be (the hosts' clock
     * offset is known only within it); 0: not measured. */
    uint64_t pause_us;
    uint64_t pause_uncertainty_us;
    /* Perform with --converge auto: what it did to make the stream end. */
    struct mp_convergence {
        bool present;
        uint64_t escalations;       /* decisions taken */
        uint64_t downtime_limit_ms; /* the downtime limit at the end */
        bool throttled;             /* the guest's throttle was released */
        bool timed_out;             /* the time bound cancelled the stream */
        bool postcopy;              /* Perform switched to postcopy: the source must never run */
    } convergence;
};

/* When things happened, in microseconds of the clock (CLOCK_REALTIME) of
 * the host that noted them; 0: unknown. Two hosts' clocks differ: the
 * cookies' own write and read times bound the difference (Finish). */
struct mp_timing {
    uint64_t written_us;       /* this cookie was written (its writer's clock) */
    uint64_t read_us;          /* its writer read its own input (same clock) */
    uint64_t input_written_us; /* that input was written (the other host's clock) */
    uint64_t stop_us;          /* Perform: the source VM stopped (source's clock) */
    uint64_t resume_us;        /* Finish: the destination VM resumed (its clock) */
};

/* A feature the writer relies on. A reader that does not know a mandatory
 * feature refuses the cookie. */
struct mp_feature {
    char *name;
    bool mandatory;
};

/* A disk Begin asks to copy (<disk>): the source's format node and what
 * the destination needs to make its target image. Sizes are virtual, in
 * bytes; backing (incremental copies) is the top layer's backing file. */
struct mp_disk {
    char *node;
    char *format;
    char *path; /* the source's image, for messages and --rewrite */
    uint64_t size;
    char *backing;
    uint64_t backing_size;
};

/* Data a site hook added (lease tokens, network setup). content is the XML
 * of the element's children, kept as written. */
struct mp_extension {
    char *name;
    char *hook; /* the hook that wrote it, may be NULL */
    char *content;
};

struct mp_cookie {
    int version;       /* MP_COOKIE_FORMAT_VERSION */
    enum mp_step step; /* the step that wrote it */
    char *migration_id;
    char *driver; /* "qemu", "xen" */
    char *domain_name;
    char *domain_uuid;
    struct mp_host source;
    struct mp_host destination;
    struct mp_params params;

    /* The driver's description of the VM: "qemu-argv" uses args (a
     * NULL-terminated argv), "xl-json" uses text. */
    char *description_format;
    char **description_args;
    char *description_text;

    /* Named driver data that is not worth a field of its own (qemu version,
     * stream version, ...), in insertion order. */
    struct mp_kv *driver_data;
    size_t n_driver_data;

    char *uri;       /* where Perform sends the stream */
    bool stream_tls; /* Prepare: the stream must use TLS (written with uri) */
    char *nbd_uri;   /* Prepare: "tcp:HOST:PORT" of the disks' NBD server */
    struct mp_disk *disks;
    size_t n_disks;
    struct mp_stats stats;
    struct mp_timing timing;
    enum mp_outcome outcome;
    char *outcome_message;

    struct mp_feature *features;
    size_t n_features;
    struct mp_extension *extensions;
    size_t n_extensions;

    /* Unknown optional elements, serialized as found, written back verbatim. */
    char **unknown;
};

/* A new empty cookie for a step, with default parameters (live). */
struct mp_cookie *mp_cookie_new(enum mp_step step);
void mp_cookie_free(struct mp_cookie *cookie);
static inline void
mp_cookie_freep(struct mp_cookie **c)
{
    mp_cookie_free(*c);
}
#define _cleanup_cookie_ _cleanup_(mp_cookie_freep)

/* Copy everything a cookie carries forward (identity, hosts, parameters,
 * description, driver data, features, extensions, unknown elements) into a
 * new cookie written by `step`; uri, statistics and outcome are copied too. */
struct mp_cookie *mp_cookie_derive(const struct mp_cookie *in, enum mp_step step);

/* Compile the schema that every parse checks against, once per process (a
 * few milliseconds): a step calls it before it waits for its cookie, so
 * that the wait, not the guest's pause, pays for it. Parsing without it
 * compiles it on first use. */
void mp_cookie_schema_warm(void);
/* The same, then parse and format a built-in cookie once: in a fresh
 * process the first parse and format cost several times the next ones (the
 * parser's and validator's code and data are first touched), and a step
 * whose parse or format falls within the guest's pause runs this before. */
void mp_cookie_warm(void);

/* Parse and validate a cookie. The buffer is untrusted: more than
 * MP_COOKIE_MAX_SIZE bytes, malformed XML, a schema violation, a format
 * version other than ours, or a mandatory feature not in known_features
 * (NULL-terminated; NULL means mp_cookie_known_features) fail with an
 * MP_ERR_INPUT error. No network or external entity is ever loaded. */
int mp_cookie_parse(const char *buf, size_t len, const char *const *known_features,
                    struct mp_cookie **out, struct mp_error **err);
/* Parse what may be added to a cookie (a site hook's output): the XML is
 * read as the end of a cookie whose every single element is there already,
 * so that only the repeated ones (<feature>, <extension>) and unknown ones
 * can come, with the checks, errors and feature rule of mp_cookie_parse.
 * Line numbers in errors are the XML's own. *out holds what was read. */
int mp_cookie_parse_items(const char *xml, const char *const *known_features,
                          struct mp_cookie **out, struct mp_error **err);
/* Serialize a cookie. *out is NUL-terminated and owned by the caller. Strings
 * that XML cannot carry (control characters) fail with -EINVAL. */
int mp_cookie_format(const struct mp_cookie *cookie, char **out, size_t *len,
                     struct mp_error **err);

/* The features this build understands without any site hook. */
extern const char *const mp_cookie_known_features[];

/* Whether any tuning is asked for (a <tuning> element, and the mandatory
 * feature "tuning" that keeps a reader that predates it from ignoring it). */
bool mp_tuning_requested(const struct mp_tuning *t);
/* Check a tuning from the command line or another host's cookie: ranges,
 * and compression only with parallel channels. -EINVAL with an input error
 * naming the value. */
int mp_tuning_check(const struct mp_tuning *t, struct mp_error **err);
/* The defaults of a tuning nobody asked for. */
void mp_tuning_init(struct mp_tuning *t);

/* Driver data accessors. set replaces an existing key; a NULL value removes it. */
const char *mp_cookie_get_data(const struct mp_cookie *cookie, const char *key);
void mp_cookie_set_data(struct mp_cookie *cookie, const char *key, const char *value);
/* Add a feature / an extension (copies its arguments). */
void mp_cookie_add_feature(struct mp_cookie *cookie, const char *name, bool mandatory);
/* Append a copy of disk. */
void mp_cookie_add_disk(struct mp_cookie *cookie, const struct mp_disk *disk);
void mp_cookie_add_extension(struct mp_cookie *cookie, const char *name, const char *hook,
                             const char *content);
