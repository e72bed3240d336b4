/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "support.h"

#include "driver.h"

#include <string.h>

/* Keep these and the layout below byte for byte the same as render_text() in
 * docs/hvsupport.pl; tests/hvsupport/runtime-matrix.sh compares the two. */
static const char legend[] =
    "Hypervisor support: the migphase release that first implemented each entry.\n"
    "\"-\": not implemented. \"X (removed Y)\": implemented in X, removed in Y.\n";
static const char no_driver[] = "No hypervisor driver is compiled in.\n";
static const char unknown[] = "?";
static const char removed_open[] = " (removed ";
static const char removed_close[] = ")";

/* Columns are two spaces apart; the last one is not padded. */
#define COLUMN_GAP 2

static const struct mp_support_driver *
support_lookup(const char *name)
{
    for (const struct mp_support_driver *d = mp_support_drivers; d->name; d++) {
        if (strcmp(d->name, name) == 0)
            return d;
    }
    return NULL;
}

/* A driver's cell in a row; NULL when the matrix does not know the driver. */
static const struct mp_support_cell *
driver_cell(const char *driver, bool features, size_t row)
{
    const struct mp_support_driver *d = support_lookup(driver);
    if (!d)
        return NULL;
    return features ? &d->features[row] : &d->operations[row];
}

static size_t
cell_width(const struct mp_support_cell *cell)
{
    if (!cell)
        return strlen(unknown);
    if (!cell->since)
        return 1;
    size_t w = strlen(cell->since);
    if (cell->removed)
        w += strlen(removed_open) + strlen(cell->removed) + strlen(removed_close);
    return w;
}

static void
print_cell(FILE *out, const struct mp_support_cell *cell)
{
    if (!cell)
        fputs(unknown, out);
    else if (!cell->since)
        fputc('-', out);
    else if (cell->removed)
        fprintf(out, "%s%s%s%s", cell->since, removed_open, cell->removed, removed_close);
    else
        fputs(cell->since, out);
}

static void
repeat(FILE *out, char c, size_t n)
{
    while (n--)
        fputc(c, out);
}

/* Widths are recomputed where needed rather than stored: a handful of
 * drivers and rows, and no allocation to fail in a --version path. */
static size_t
label_width(const char *title, const char *const *rows)
{
    size_t w = strlen(title);
    for (size_t r = 0; rows[r]; r++) {
        if (strlen(rows[r]) > w)
            w = strlen(rows[r]);
    }
    return w;
}

static size_t
driver_width(const char *driver, const char *const *rows, bool features)
{
    size_t w = strlen(driver);
    for (size_t r = 0; rows[r]; r++) {
        size_t cw = cell_width(driver_cell(driver, features, r));
        if (cw > w)
            w = cw;
    }
    return w;
}

static void
print_table(FILE *out, const char *title, const char *const *rows, bool features,
            const char *const *drivers)
{
    size_t first = label_width(title, rows);

    fputs(title, out);
    size_t used = strlen(title);
    size_t width = first;
    for (size_t c = 0; drivers[c]; c++) {
        repeat(out, ' ', width - used + COLUMN_GAP);
        fputs(drivers[c], out);
        used = strlen(drivers[c]);
        width = driver_width(drivers[c], rows, features);
    }
    fputc('\n', out);

    repeat(out, '-', first);
    for (size_t c = 0; drivers[c]; c++) {
        repeat(out, ' ', COLUMN_GAP);
        repeat(out, '-', driver_width(drivers[c], rows, features));
    }
    fputc('\n', out);

    for (size_t r = 0; rows[r]; r++) {
        fputs(rows[r], out);
        used = strlen(rows[r]);
        width = first;
        for (size_t c = 0; drivers[c]; c++) {
            const struct mp_support_cell *cell = driver_cell(drivers[c], features, r);
            repeat(out, ' ', width - used + COLUMN_GAP);
            print_cell(out, cell);
            used = cell_width(cell);
            width = driver_width(drivers[c], rows, features);
        }
        fputc('\n', out);
    }
}

void
mp_support_print_drivers(FILE *out, const char *const *drivers)
{
    if (!drivers[0]) {
        fputs(no_driver, out);
        return;
    }
    fputs(legend, out);
    fputc('\n', out);
    print_table(out, "Operation", mp_support_operations, false, drivers);
    fputc('\n', out);
    print_table(out, "Feature", mp_support_features, true, drivers);
}

void
mp_support_print(FILE *out)
{
    const char *names[MP_SUPPORT_MAX_DRIVERS + 1] = { NULL };
    for (size_t i = 0; i < MP_SUPPORT_MAX_DRIVERS && mp_driver_name(i); i++)
        names[i] = mp_driver_name(i);
    mp_support_print_drivers(out, names);
}

int
mp_support_parse_options(struct mp_options *opts, enum mp_program program, const char *usage,
                         int argc, char **argv, struct mp_error **err)
{
    int r = mp_options_parse(opts, program, usage, argc, argv, err);
    if (r == 0 && opts->version_shown && opts->verbose)
        mp_support_print(stdout);
    return r;
}
