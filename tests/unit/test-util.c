#include "config.h"

#include "util.h"

#include <criterion/criterion.h>

static void
expect_uri(const char *listen, unsigned port, const char *want)
{
    _cleanup_free_ char *uri = mp_stream_uri(listen, "dst.example", port);
    cr_assert_str_eq(uri, want, "listening on %s", listen);
}

Test(util, stream_uri_names_the_host_the_source_can_reach)
{
    expect_uri("192.0.2.7", 49152, "tcp:192.0.2.7:49152");
    expect_uri("2001:db8::7", 49153, "tcp:[2001:db8::7]:49153");
    /* Every address: the source is given this host's name. */
    expect_uri("0.0.0.0", 49154, "tcp:dst.example:49154");
    expect_uri("::", 49155, "tcp:dst.example:49155");
    _cleanup_free_ char *v6 = mp_tcp_uri("::", 1);
    cr_assert_str_eq(v6, "tcp:[::]:1");
}
