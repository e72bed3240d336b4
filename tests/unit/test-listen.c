/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where Prepare listens: loopback alone, or the address the operator gave. */
#include "config.h"

#include "listen.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

/* A list of interface addresses, as getifaddrs(3) would give it. */
struct fake_ifaddrs {
    struct ifaddrs entries[4];
    struct sockaddr_storage addrs[4];
};

static struct ifaddrs *
fake(struct fake_ifaddrs *f, const char *const *addresses)
{
    memset(f, 0, sizeof(*f));
    size_t n = 0;
    for (; addresses[n]; n++) {
        struct ifaddrs *e = &f->entries[n];
        e->ifa_name = (char *)"test0";
        e->ifa_addr = (struct sockaddr *)&f->addrs[n];
        if (strchr(addresses[n], ':')) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&f->addrs[n];
            in6->sin6_family = AF_INET6;
            cr_assert_eq(inet_pton(AF_INET6, addresses[n], &in6->sin6_addr), 1);
        } else {
            struct sockaddr_in *in = (struct sockaddr_in *)&f->addrs[n];
            in->sin_family = AF_INET;
            cr_assert_eq(inet_pton(AF_INET, addresses[n], &in->sin_addr), 1);
        }
        if (n > 0)
            f->entries[n - 1].ifa_next = e;
    }
    return n ? &f->entries[0] : NULL;
}

Test(listen, loopback_only_hosts_have_nothing_routable)
{
    struct fake_ifaddrs f;
    cr_expect_not(
        mp_listen_has_routable_address(fake(&f, (const char *[]){ "127.0.0.1", "::1", NULL })));
    cr_expect_not(
        mp_listen_has_routable_address(fake(&f, (const char *[]){ "127.0.1.1", "fe80::1", NULL })));
    cr_expect_not(mp_listen_has_routable_address(NULL));
}

Test(listen, any_other_address_is_routable)
{
    struct fake_ifaddrs f;
    cr_expect(mp_listen_has_routable_address(
        fake(&f, (const char *[]){ "127.0.0.1", "10.1.2.3", NULL })));
    cr_expect(
        mp_listen_has_routable_address(fake(&f, (const char *[]){ "::1", "2001:db8::5", NULL })));
}

/* An entry without an address (an interface that has none) counts for nothing. */
Test(listen, entries_without_address_are_skipped)
{
    struct fake_ifaddrs f;
    struct ifaddrs *list = fake(&f, (const char *[]){ "127.0.0.1", "10.0.0.1", NULL });
    f.entries[1].ifa_addr = NULL;
    cr_expect_not(mp_listen_has_routable_address(list));
}

Test(listen, a_given_address_is_kept)
{
    struct mp_options opts = { .listen_addr = xstrdup("0.0.0.0") };
    struct mp_error *err = NULL;
    cr_assert_eq(mp_listen_resolve(&opts, &err), 0);
    cr_expect_str_eq(opts.listen_addr, "0.0.0.0");
    free(opts.listen_addr);
}

/* This machine's own answer agrees with the rule on its own addresses. */
Test(listen, this_host)
{
    struct ifaddrs *addrs = NULL;
    cr_assert_eq(getifaddrs(&addrs), 0);
    bool other = mp_listen_has_routable_address(addrs);
    freeifaddrs(addrs);
    struct mp_options opts = { 0 };
    struct mp_error *err = NULL;
    int r = mp_listen_resolve(&opts, &err);
    if (other) {
        cr_expect_lt(r, 0);
        cr_expect_eq(err->kind, MP_ERR_INPUT);
        cr_expect(strstr(err->message, "--listen") != NULL, "%s", err->message);
        mp_error_free(err);
    } else {
        cr_expect_eq(r, 0);
        cr_expect_str_eq(opts.listen_addr, "127.0.0.1");
    }
    free(opts.listen_addr);
}
