/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration cookies: the in-memory model (see cookie.h). Reading and writing
 * are driven by one table of elements (cookie-elements.c): cookie-reader.c
 * parses, cookie-writer.c formats. */
#include "config.h"

#include "cookie.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Every format-1 reader handles these, so a writer may mark them mandatory
 * without asking. "stats" is the <statistics> element. Features that site
 * hooks bring ("lease") are not here: a caller that runs such hooks passes
 * its own list to mp_cookie_parse. */
const char *const mp_cookie_known_features[] = {
    "stats",
    "tuning",
    "postcopy",
    NULL,
};

void
mp_tuning_init(struct mp_tuning *t)
{
    *t = (struct mp_tuning){ .throttle_initial = MP_TUNING_THROTTLE_INITIAL,
                             .throttle_step = MP_TUNING_THROTTLE_STEP };
}

bool
mp_tuning_requested(const struct mp_tuning *t)
{
    /* The throttle's percentages count too: --converge auto uses them. */
    return t->parallel || t->compress != MP_COMPRESS_NONE || t->xbzrle_bytes || t->auto_converge ||
           t->converge != MP_CONVERGE_AUTO || t->throttle_initial != MP_TUNING_THROTTLE_INITIAL ||
           t->throttle_step != MP_TUNING_THROTTLE_STEP || t->postcopy || t->postcopy_after_precopy;
}

int
mp_tuning_check(const struct mp_tuning *t, struct mp_error **err)
{
    if (t->parallel > MP_TUNING_MAX_PARALLEL)
        return mp_error_input(err, EINVAL, "parallel channels: %" PRIu64 " is not within 1-%d",
                              t->parallel, MP_TUNING_MAX_PARALLEL);
    if ((unsigned)t->compress >= MP_COMPRESS_COUNT || (unsigned)t->converge >= MP_CONVERGE_COUNT)
        return mp_error_input(err, EINVAL, "unknown compression or convergence policy");
    if (t->compress != MP_COMPRESS_NONE && !t->parallel)
        return mp_error_input(err, EINVAL,
                              "compression (%s) is for parallel channels only: give --parallel N",
                              mp_compress_name(t->compress));
    if (t->postcopy_after_precopy && !t->postcopy)
        return mp_error_input(err, EINVAL, "postcopy after the first pass needs postcopy allowed");
    /* QEMU 7.2 refuses postcopy-ram beside multifd ("not yet compatible"). */
    if (t->postcopy && t->parallel)
        return mp_error_input(err, EINVAL,
                              "postcopy and parallel channels do not go together (QEMU's multifd "
                              "has no postcopy): drop --parallel or --postcopy");
    /* QEMU takes only a power of two. */
    if (t->xbzrle_bytes &&
        (t->xbzrle_bytes < MP_TUNING_MIN_XBZRLE || t->xbzrle_bytes > MP_TUNING_MAX_XBZRLE ||
         (t->xbzrle_bytes & (t->xbzrle_bytes - 1))))
        return mp_error_input(
            err, EINVAL, "XBZRLE cache: %" PRIu64 " bytes is not a power of two within 1 MiB-1 TiB",
            t->xbzrle_bytes);
    if (t->throttle_initial < 1 || t->throttle_initial > 99 || t->throttle_step < 1 ||
        t->throttle_step > 99)
        return mp_error_input(err, EINVAL,
                              "throttle: initial %" PRIu64 "%% and step %" PRIu64
                              "%% must each be within 1-99",
                              t->throttle_initial, t->throttle_step);
    return 0;
}

struct mp_cookie *
mp_cookie_new(enum mp_step step)
{
    struct mp_cookie *c = xzalloc(sizeof(*c));
    c->version = MP_COOKIE_FORMAT_VERSION;
    c->step = step;
    c->params.live = true;
    mp_tuning_init(&c->params.tuning);
    c->outcome = MP_OUTCOME_NONE;
    return c;
}

/* Free what a host holds. */
static void
host_clear(struct mp_host *h)
{
    free(h->hostname);
    free(h->host_id);
}

void
mp_cookie_free(struct mp_cookie *c)
{
    if (!c)
        return;
    free(c->migration_id);
    free(c->driver);
    free(c->domain_name);
    free(c->domain_uuid);
    host_clear(&c->source);
    host_clear(&c->destination);
    free(c->description_format);
    mp_strv_free(c->description_args);
    free(c->description_text);
    mp_kv_free(c->driver_data, c->n_driver_data);
    free(c->uri);
    free(c->outcome_message);
    for (size_t i = 0; i < c->n_features; i++)
        free(c->features[i].name);
    free(c->features);
    for (size_t i = 0; i < c->n_extensions; i++) {
        free(c->extensions[i].name);
        free(c->extensions[i].hook);
        free(c->extensions[i].content);
    }
    free(c->extensions);
    for (size_t i = 0; i < c->n_disks; i++) {
        free(c->disks[i].node);
        free(c->disks[i].format);
        free(c->disks[i].path);
        free(c->disks[i].backing);
    }
    free(c->disks);
    free(c->nbd_uri);
    mp_strv_free(c->unknown);
    free(c);
}

/* Deep-copy a host. */
static void
host_copy(struct mp_host *to, const struct mp_host *from)
{
    to->hostname = xstrdup(from->hostname);
    to->host_id = xstrdup(from->host_id);
}

struct mp_cookie *
mp_cookie_derive(const struct mp_cookie *in, enum mp_step step)
{
    struct mp_cookie *c = mp_cookie_new(step);
    c->migration_id = xstrdup(in->migration_id);
    c->driver = xstrdup(in->driver);
    c->domain_name = xstrdup(in->domain_name);
    c->domain_uuid = xstrdup(in->domain_uuid);
    host_copy(&c->source, &in->source);
    host_copy(&c->destination, &in->destination);
    c->params = in->params;

    c->description_format = xstrdup(in->description_format);
    if (in->description_args)
        c->description_args = mp_strv_copy(in->description_args);
    c->description_text = xstrdup(in->description_text);

    c->driver_data = mp_kv_copy(in->driver_data, in->n_driver_data);
    c->n_driver_data = in->n_driver_data;

    c->uri = xstrdup(in->uri);
    c->stream_tls = in->stream_tls;
    c->nbd_uri = xstrdup(in->nbd_uri);
    for (size_t i = 0; i < in->n_disks; i++)
        mp_cookie_add_disk(c, &in->disks[i]);
    c->stats = in->stats;
    /* The moments the guest stopped and resumed travel on; each step notes
     * its own write and read times. */
    c->timing.stop_us = in->timing.stop_us;
    c->timing.resume_us = in->timing.resume_us;
    c->outcome = in->outcome;
    c->outcome_message = xstrdup(in->outcome_message);

    c->features = xreallocarray(NULL, in->n_features, sizeof(*c->features));
    for (size_t i = 0; i < in->n_features; i++) {
        c->features[i].name = xstrdup(in->features[i].name);
        c->features[i].mandatory = in->features[i].mandatory;
    }
    c->n_features = in->n_features;

    c->extensions = xreallocarray(NULL, in->n_extensions, sizeof(*c->extensions));
    for (size_t i = 0; i < in->n_extensions; i++) {
        c->extensions[i].name = xstrdup(in->extensions[i].name);
        c->extensions[i].hook = xstrdup(in->extensions[i].hook);
        c->extensions[i].content = xstrdup(in->extensions[i].content);
    }
    c->n_extensions = in->n_extensions;

    if (in->unknown)
        c->unknown = mp_strv_copy(in->unknown);
    return c;
}

const char *
mp_cookie_get_data(const struct mp_cookie *cookie, const char *key)
{
    return mp_kv_get(cookie->driver_data, cookie->n_driver_data, key);
}

void
mp_cookie_set_data(struct mp_cookie *cookie, const char *key, const char *value)
{
    mp_kv_set(&cookie->driver_data, &cookie->n_driver_data, key, value);
}

/* Adding a feature twice keeps one entry, mandatory if either call said so:
 * two hooks may rely on the same feature. */
void
mp_cookie_add_feature(struct mp_cookie *cookie, const char *name, bool mandatory)
{
    for (size_t i = 0; i < cookie->n_features; i++) {
        if (mp_streq0(cookie->features[i].name, name)) {
            cookie->features[i].mandatory |= mandatory;
            return;
        }
    }
    cookie->features =
        xreallocarray(cookie->features, cookie->n_features + 1, sizeof(*cookie->features));
    cookie->features[cookie->n_features++] = (struct mp_feature){
        .name = xstrdup(name),
        .mandatory = mandatory,
    };
}

void
mp_cookie_add_extension(struct mp_cookie *cookie, const char *name, const char *hook,
                        const char *content)
{
    cookie->extensions =
        xreallocarray(cookie->extensions, cookie->n_extensions + 1, sizeof(*cookie->extensions));
    cookie->extensions[cookie->n_extensions++] = (struct mp_extension){
        .name = xstrdup(name),
        .hook = xstrdup(hook),
        .content = xstrdup(content ? content : ""),
    };
}

void
mp_cookie_add_disk(struct mp_cookie *cookie, const struct mp_disk *disk)
{
    cookie->disks = xreallocarray(cookie->disks, cookie->n_disks + 1, sizeof(*cookie->disks));
    cookie->disks[cookie->n_disks++] = (struct mp_disk){
        .node = xstrdup(disk->node),
        .format = xstrdup(disk->format),
        .path = xstrdup(disk->path),
        .size = disk->size,
        .backing = xstrdup(disk->backing),
        .backing_size = disk->backing_size,
    };
}
