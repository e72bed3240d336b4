/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table of the elements a format-1 cookie holds under its root, and
 * what each needs beyond its attributes. Adding an element means adding it
 * to shared/cookie.rng, to the model (cookie.h) and a row here: reading,
 * writing and the hooks' check all follow from the row. */
#include "config.h"

#include "cookie-internal.h"

#include <stddef.h>
#include <string.h>

const struct mp_xml_limits cookie_limits = {
    .max_bytes = MP_COOKIE_MAX_SIZE,
    .max_elements = 4096,
    .max_attributes = 256,
};

#define COOKIE(field) offsetof(struct mp_cookie, field)

static const struct cookie_attr migration_attrs[] = {
    { "id", ATTR_TEXT, COOKIE(migration_id) },
    { "driver", ATTR_TEXT, COOKIE(driver) },
    { 0 },
};

static const struct cookie_attr domain_attrs[] = {
    { "name", ATTR_TEXT, COOKIE(domain_name) },
    { "uuid", ATTR_TEXT, COOKIE(domain_uuid) },
    { 0 },
};

/* Of struct mp_host: <source> and <destination> alike. */
static const struct cookie_attr host_attrs[] = {
    { "hostname", ATTR_TEXT, offsetof(struct mp_host, hostname) },
    { "host-id", ATTR_TEXT, offsetof(struct mp_host, host_id) },
    { 0 },
};

/* Of struct mp_params. */
static const struct cookie_attr parameters_attrs[] = {
    { "live", ATTR_YES_NO, offsetof(struct mp_params, live) },
    { "bandwidth-mib", ATTR_COUNT, offsetof(struct mp_params, bandwidth_mib) },
    { "downtime-ms", ATTR_COUNT, offsetof(struct mp_params, downtime_ms) },
    { "paused", ATTR_YES_NO, offsetof(struct mp_params, paused) },
    { "timeout-s", ATTR_COUNT, offsetof(struct mp_params, timeout_s) },
    { "tls", ATTR_TLS, offsetof(struct mp_params, tls) },
    { "copy-storage", ATTR_COPY, offsetof(struct mp_params, copy_storage) },
    { 0 },
};

/* Of struct mp_tuning. */
static const struct cookie_attr tuning_attrs[] = {
    { "parallel", ATTR_COUNT, offsetof(struct mp_tuning, parallel) },
    { "compress", ATTR_COMPRESS, offsetof(struct mp_tuning, compress) },
    { "xbzrle-cache-bytes", ATTR_COUNT, offsetof(struct mp_tuning, xbzrle_bytes) },
    { "auto-converge", ATTR_YES_NO, offsetof(struct mp_tuning, auto_converge) },
    { "throttle-initial", ATTR_COUNT, offsetof(struct mp_tuning, throttle_initial) },
    { "throttle-step", ATTR_COUNT, offsetof(struct mp_tuning, throttle_step) },
    { "converge", ATTR_CONVERGE, offsetof(struct mp_tuning, converge) },
    { "postcopy", ATTR_FLAG, offsetof(struct mp_tuning, postcopy) },
    { "postcopy-after-precopy", ATTR_FLAG, offsetof(struct mp_tuning, postcopy_after_precopy) },
    { 0 },
};

/* Of struct mp_convergence. */
static const struct cookie_attr convergence_attrs[] = {
    { "escalations", ATTR_COUNT, offsetof(struct mp_convergence, escalations) },
    { "downtime-limit-ms", ATTR_COUNT, offsetof(struct mp_convergence, downtime_limit_ms) },
    { "throttled", ATTR_YES_NO, offsetof(struct mp_convergence, throttled) },
    { "timed-out", ATTR_YES_NO, offsetof(struct mp_convergence, timed_out) },
    { "postcopy", ATTR_FLAG, offsetof(struct mp_convergence, postcopy) },
    { 0 },
};

static const struct cookie_attr description_attrs[] = {
    { "format", ATTR_TEXT, COOKIE(description_format) },
    { 0 },
};

static const struct cookie_attr incoming_attrs[] = {
    { "uri", ATTR_TEXT, COOKIE(uri) },
    { "tls", ATTR_YES_NO, COOKIE(stream_tls) },
    { "nbd", ATTR_TEXT, COOKIE(nbd_uri) },
    { 0 },
};

/* Of struct mp_stats. */
static const struct cookie_attr statistics_attrs[] = {
    { "total-ms", ATTR_COUNT, offsetof(struct mp_stats, total_ms) },
    { "downtime-ms", ATTR_COUNT, offsetof(struct mp_stats, downtime_ms) },
    { "setup-ms", ATTR_COUNT, offsetof(struct mp_stats, setup_ms) },
    { "transferred-bytes", ATTR_COUNT, offsetof(struct mp_stats, transferred_bytes) },
    { "total-bytes", ATTR_COUNT, offsetof(struct mp_stats, total_bytes) },
    { "iterations", ATTR_COUNT, offsetof(struct mp_stats, iterations) },
    { "mbps-x1000", ATTR_COUNT, offsetof(struct mp_stats, mbps_x1000) },
    { "pause-us", ATTR_COUNT, offsetof(struct mp_stats, pause_us) },
    { "pause-uncertainty-us", ATTR_COUNT, offsetof(struct mp_stats, pause_uncertainty_us) },
    { 0 },
};

/* Of struct mp_timing. */
static const struct cookie_attr timing_attrs[] = {
    { "written-us", ATTR_COUNT, offsetof(struct mp_timing, written_us) },
    { "read-us", ATTR_COUNT, offsetof(struct mp_timing, read_us) },
    { "input-written-us", ATTR_COUNT, offsetof(struct mp_timing, input_written_us) },
    { "stop-us", ATTR_COUNT, offsetof(struct mp_timing, stop_us) },
    { "resume-us", ATTR_COUNT, offsetof(struct mp_timing, resume_us) },
    { 0 },
};

static const struct cookie_attr outcome_attrs[] = {
    { "result", ATTR_OUTCOME, COOKIE(outcome) },
    { 0 },
};

/* Of struct mp_feature. */
static const struct cookie_attr feature_attrs[] = {
    { "name", ATTR_TEXT, offsetof(struct mp_feature, name) },
    { "mandatory", ATTR_YES_NO, offsetof(struct mp_feature, mandatory) },
    { 0 },
};

/* Of struct mp_disk. */
static const struct cookie_attr disk_attrs[] = {
    { "node", ATTR_TEXT, offsetof(struct mp_disk, node) },
    { "format", ATTR_TEXT, offsetof(struct mp_disk, format) },
    { "path", ATTR_TEXT, offsetof(struct mp_disk, path) },
    { "size", ATTR_COUNT, offsetof(struct mp_disk, size) },
    { "backing", ATTR_TEXT, offsetof(struct mp_disk, backing) },
    { "backing-size", ATTR_COUNT, offsetof(struct mp_disk, backing_size) },
    { 0 },
};

/* Of struct mp_extension. */
static const struct cookie_attr extension_attrs[] = {
    { "name", ATTR_TEXT, offsetof(struct mp_extension, name) },
    { "hook", ATTR_TEXT, offsetof(struct mp_extension, hook) },
    { 0 },
};

/* <parameters> is always written, defaults included, so that no reader has
 * to know them. */
static bool
always(_unused_ const struct mp_cookie *c)
{
    return true;
}

static bool
has_tuning(const struct mp_cookie *c)
{
    return mp_tuning_requested(&c->params.tuning);
}

/* Another host's tuning is checked as the command line's is: a cookie
 * cannot ask for 10000 channels or a throttle of 250%. */
static int
read_tuning(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    struct mp_error *e = NULL;
    if (mp_tuning_check(&c->params.tuning, &e) == 0)
        return 0;
    int r = cookie_node_error(err, n, "<tuning>: %s", e->message);
    mp_error_free(e);
    return r;
}

/* The driver's description: "qemu-argv" as <arg> children, any other format
 * as text. An empty argv is still an argv: callers can count on the array. */
static int
read_description(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    if (!mp_streq0(c->description_format, "qemu-argv")) {
        c->description_text = mp_xml_text(n);
        return 0;
    }
    c->description_args = xzalloc(sizeof(char *));
    for (const xmlNode *arg = n->children; arg; arg = arg->next) {
        if (!mp_xml_is_element(arg, "arg"))
            continue;
        _cleanup_free_ char *text = mp_xml_text(arg);
        c->description_args = mp_strv_append(c->description_args, text);
    }
    return 0;
}

/* The description's content: what read_description reads. */
static void
write_description(struct cookie_writer *w, const struct mp_cookie *c)
{
    if (!mp_streq0(c->description_format, "qemu-argv")) {
        cookie_write_text_end(w, c->description_text);
        return;
    }
    if (!c->description_args || !c->description_args[0]) {
        cookie_write_text_end(w, NULL);
        return;
    }
    cookie_write_children_begin(w);
    for (char **arg = c->description_args; *arg; arg++)
        cookie_write_child(w, "arg", NULL, NULL, *arg);
    cookie_write_children_end(w);
}

/* <driver-data> is written when there is some. */
static bool
has_driver_data(const struct mp_cookie *c)
{
    return c->n_driver_data > 0;
}

/* Its <item key="..."> children, each key once. */
static int
read_driver_data(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    for (const xmlNode *item = n->children; item; item = item->next) {
        if (!mp_xml_is_element(item, "item"))
            continue;
        _cleanup_free_ char *key = mp_xml_attr(item, "key");
        if (!key)
            return cookie_node_error(err, item, "<item> has no key");
        if (mp_cookie_get_data(c, key))
            return cookie_node_error(err, item, "driver-data key '%s' appears twice", key);
        _cleanup_free_ char *value = mp_xml_text(item);
        mp_cookie_set_data(c, key, value);
    }
    return 0;
}

/* The items read_driver_data reads. */
static void
write_driver_data(struct cookie_writer *w, const struct mp_cookie *c)
{
    cookie_write_children_begin(w);
    for (size_t i = 0; i < c->n_driver_data; i++)
        cookie_write_child(w, "item", "key", c->driver_data[i].key, c->driver_data[i].value);
    cookie_write_children_end(w);
}

/* Whether Perform wrote statistics. */
static bool
has_statistics(const struct mp_cookie *c)
{
    return c->stats.present;
}

/* A <statistics> element, even one with every figure left out, is there. */
static int
read_statistics(struct mp_cookie *c, _unused_ const xmlNode *n, _unused_ struct mp_error **err)
{
    c->stats.present = true;
    return 0;
}

static bool
has_convergence(const struct mp_cookie *c)
{
    return c->stats.convergence.present;
}

static int
read_convergence(struct mp_cookie *c, _unused_ const xmlNode *n, _unused_ struct mp_error **err)
{
    c->stats.convergence.present = true;
    return 0;
}

/* <timing> once a step noted a time: cookies made by hand need none. */
static bool
has_timing(const struct mp_cookie *c)
{
    const struct mp_timing *t = &c->timing;
    return t->written_us || t->read_us || t->input_written_us || t->stop_us || t->resume_us;
}

/* <outcome> is written once a step has concluded or has something to say. */
static bool
has_outcome(const struct mp_cookie *c)
{
    return c->outcome != MP_OUTCOME_NONE || (c->outcome_message && *c->outcome_message);
}

/* Its text is the message; no text, no message. */
static int
read_outcome(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    _cleanup_free_ char *message = mp_xml_text(n);
    if (*message)
        c->outcome_message = steal_ptr(&message);
    return 0;
}

/* The message as the outcome's text. */
static void
write_outcome(struct cookie_writer *w, const struct mp_cookie *c)
{
    cookie_write_text_end(w, c->outcome_message);
}

/* One <feature>, named once. */
static int
read_feature(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    struct mp_feature f = { 0 };
    int r = cookie_read_attrs(feature_attrs, &f, n, err);
    _cleanup_free_ char *name = f.name;
    if (r < 0)
        return r;
    if (!name)
        return cookie_node_error(err, n, "<feature> has no name");
    for (size_t i = 0; i < c->n_features; i++) {
        if (strcmp(c->features[i].name, name) == 0)
            return cookie_node_error(err, n, "feature '%s' is listed twice", name);
    }
    mp_cookie_add_feature(c, name, f.mandatory);
    return 0;
}

/* Every feature, in order. */
static void
write_features(struct cookie_writer *w, const struct mp_cookie *c)
{
    for (size_t i = 0; i < c->n_features; i++) {
        cookie_write_start(w, "feature", feature_attrs, &c->features[i]);
        cookie_write_text_end(w, NULL);
    }
}

/* One <extension>, its content kept as written. */
static int
read_extension(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    /* The content is copied out on its own, so it must not lean on a
     * declaration it would leave behind. */
    if (n->nsDef)
        return cookie_node_error(err, n,
                                 "namespace declarations are not allowed on <extension>, only "
                                 "inside it");
    struct mp_extension e = { 0 };
    int r = cookie_read_attrs(extension_attrs, &e, n, err);
    _cleanup_free_ char *name = e.name;
    _cleanup_free_ char *hook = e.hook;
    if (r < 0)
        return r;
    _cleanup_free_ char *content = mp_xml_serialize(n->children, true);
    mp_cookie_add_extension(c, name, hook, content);
    return 0;
}

/* Every extension, in order. Their content was checked to be well-formed
 * (mp_cookie_format) and goes out exactly as it came in. */
static void
write_extensions(struct cookie_writer *w, const struct mp_cookie *c)
{
    for (size_t i = 0; i < c->n_extensions; i++) {
        cookie_write_start(w, "extension", extension_attrs, &c->extensions[i]);
        cookie_write_xml_end(w, c->extensions[i].content);
    }
}

/* One <disk>, its node named once. */
static int
read_disk(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    struct mp_disk d = { 0 };
    int r = cookie_read_attrs(disk_attrs, &d, n, err);
    for (size_t i = 0; r == 0 && i < c->n_disks; i++)
        if (mp_streq0(c->disks[i].node, d.node))
            r = cookie_node_error(err, n, "disk '%s' is listed twice", d.node);
    if (r == 0)
        mp_cookie_add_disk(c, &d);
    free(d.node);
    free(d.format);
    free(d.path);
    free(d.backing);
    return r;
}

/* Every disk, in order. */
static void
write_disks(struct cookie_writer *w, const struct mp_cookie *c)
{
    for (size_t i = 0; i < c->n_disks; i++) {
        cookie_write_start(w, "disk", disk_attrs, &c->disks[i]);
        cookie_write_text_end(w, NULL);
    }
}

const struct cookie_element cookie_elements[] = {
    { "migration", OCCURS_REQUIRED, 0, migration_attrs, NULL, NULL, NULL },
    { "domain", OCCURS_REQUIRED, 0, domain_attrs, NULL, NULL, NULL },
    { "source", OCCURS_OPTIONAL, COOKIE(source), host_attrs, NULL, NULL, NULL },
    { "destination", OCCURS_OPTIONAL, COOKIE(destination), host_attrs, NULL, NULL, NULL },
    { "parameters", OCCURS_OPTIONAL, COOKIE(params), parameters_attrs, always, NULL, NULL },
    { "tuning", OCCURS_OPTIONAL, COOKIE(params.tuning), tuning_attrs, has_tuning, read_tuning,
      NULL },
    { "description", OCCURS_OPTIONAL, 0, description_attrs, NULL, read_description,
      write_description },
    { "driver-data", OCCURS_OPTIONAL, 0, NULL, has_driver_data, read_driver_data,
      write_driver_data },
    { "incoming", OCCURS_OPTIONAL, 0, incoming_attrs, NULL, NULL, NULL },
    { "statistics", OCCURS_OPTIONAL, COOKIE(stats), statistics_attrs, has_statistics,
      read_statistics, NULL },
    { "convergence", OCCURS_OPTIONAL, COOKIE(stats.convergence), convergence_attrs, has_convergence,
      read_convergence, NULL },
    { "timing", OCCURS_OPTIONAL, COOKIE(timing), timing_attrs, has_timing, NULL, NULL },
    { "outcome", OCCURS_OPTIONAL, 0, outcome_attrs, has_outcome, read_outcome, write_outcome },
    { "feature", OCCURS_REPEATED, 0, feature_attrs, NULL, read_feature, write_features },
    { "extension", OCCURS_REPEATED, 0, extension_attrs, NULL, read_extension, write_extensions },
    { "disk", OCCURS_REPEATED, 0, disk_attrs, NULL, read_disk, write_disks },
};
const size_t cookie_n_elements = ARRAY_SIZE(cookie_elements);
_Static_assert(ARRAY_SIZE(cookie_elements) <= COOKIE_MAX_ELEMENTS, "the reader counts up to this");

const struct cookie_element *
cookie_find_element(const xmlNode *n)
{
    for (size_t i = 0; i < cookie_n_elements; i++) {
        if (mp_xml_is_element(n, cookie_elements[i].name))
            return &cookie_elements[i];
    }
    return NULL;
}
