#include "config.h"

#include "hooks.h"

/* Placeholder until the site hooks land: no hooks, built-in features only. */
int
mp_hooks_run(const struct mp_hook_run *run, struct mp_cookie *out, struct mp_error **err)
{
    return 0;
}

char **
mp_hooks_known_features(const char *hooks_dir)
{
    char **v = NULL;
    for (size_t i = 0; mp_cookie_known_features[i]; i++)
        v = mp_strv_append(v, mp_cookie_known_features[i]);
    return v ? v : xzalloc(sizeof(char *));
}
