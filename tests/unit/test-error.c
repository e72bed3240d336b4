/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "error.h"

#include <criterion/criterion.h>
#include <errno.h>

Test(error, first_error_wins_and_prefix_adds_context)
{
    struct mp_error *err = NULL;
    cr_assert_eq(mp_error_set(&err, ENOENT, "no %s", "socket"), -ENOENT);
    cr_assert_eq(mp_error_set(&err, EINVAL, "second"), -EINVAL);
    cr_assert_str_eq(err->message, "no socket");
    cr_assert_eq(mp_error_prefix(&err, "connecting to %s", "qmp"), -ENOENT);
    cr_assert_str_eq(err->message, "connecting to qmp: no socket");
    mp_error_free(err);
}

Test(error, errno_variant_appends_strerror)
{
    struct mp_error *err = NULL;
    mp_error_set_errno(&err, ENOSPC, "writing record");
    cr_assert_str_eq(err->message, "writing record: No space left on device");
    mp_error_free(err);
}

Test(error, negative_and_zero_errno_are_normalised)
{
    struct mp_error *err = NULL;
    cr_assert_eq(mp_error_set(&err, -EPIPE, "x"), -EPIPE);
    mp_error_free(err);
    err = NULL;
    cr_assert_eq(mp_error_set(&err, 0, "x"), -EIO);
    mp_error_free(err);
}

Test(error, null_error_pointer_is_allowed)
{
    cr_assert_eq(mp_error_set(NULL, EBUSY, "ignored"), -EBUSY);
}

Test(error, exit_status_table)
{
    struct mp_error *err = NULL;
    cr_assert_eq(mp_exit_status(0, NULL), MP_EXIT_OK);
    cr_assert_eq(mp_exit_status(1, NULL), MP_EXIT_OK);
    cr_assert_eq(mp_exit_status(-EIO, NULL), MP_EXIT_FAILED);
    mp_error_set(&err, EIO, "failed");
    cr_assert_eq(mp_exit_status(-EIO, err), 1);
    mp_error_left_state(&err);
    cr_assert_eq(mp_exit_status(-EIO, err), 3);
    mp_error_free(err);
    err = NULL;
    mp_error_input(&err, EINVAL, "bad cookie");
    cr_assert_eq(mp_exit_status(-EINVAL, err), 2);
    mp_error_free(err);
}
