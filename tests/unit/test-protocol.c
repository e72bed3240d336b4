/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "protocol.h"

#include <criterion/criterion.h>
#include <errno.h>

Test(protocol, step_names_round_trip)
{
    for (int s = 0; s < MP_STEP_COUNT; s++) {
        enum mp_step parsed;
        cr_assert_eq(mp_step_parse(mp_step_name((enum mp_step)s), &parsed), 0);
        cr_assert_eq((int)parsed, s);
    }
    enum mp_step dummy;
    cr_assert_eq(mp_step_parse("Begin", &dummy), -EINVAL);
    cr_assert_eq(mp_step_parse(NULL, &dummy), -EINVAL);
    cr_assert_null(mp_step_name(MP_STEP_COUNT));
}

Test(protocol, roles_of_steps)
{
    cr_assert_eq(mp_step_role(MP_STEP_BEGIN), MP_ROLE_SOURCE);
    cr_assert_eq(mp_step_role(MP_STEP_PREPARE), MP_ROLE_DESTINATION);
    cr_assert_eq(mp_step_role(MP_STEP_PERFORM), MP_ROLE_SOURCE);
    cr_assert_eq(mp_step_role(MP_STEP_FINISH), MP_ROLE_DESTINATION);
    cr_assert_eq(mp_step_role(MP_STEP_CONFIRM), MP_ROLE_SOURCE);
}

Test(protocol, outcomes_and_roles_parse)
{
    enum mp_outcome o;
    cr_assert_eq(mp_outcome_parse("cancelled", &o), 0);
    cr_assert_eq(o, MP_OUTCOME_CANCELLED);
    cr_assert_eq(mp_outcome_parse("ok", &o), -EINVAL);
    enum mp_role r;
    cr_assert_eq(mp_role_parse("destination", &r), 0);
    cr_assert_eq(r, MP_ROLE_DESTINATION);
    cr_assert_str_eq(mp_role_name(MP_ROLE_SOURCE), "source");
}
