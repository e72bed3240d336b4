/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* A link-local IPv6 address (fe80::/10) reaches no other host without an
 * interface named in the URI, which the stream's URI never has. */
static bool
routable(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) != 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a);
    }
    return false;
}

bool
mp_listen_has_routable_address(const struct ifaddrs *addrs)
{
    for (const struct ifaddrs *a = addrs; a; a = a->ifa_next)
        if (a->ifa_addr && routable(a->ifa_addr))
            return true;
    return false;
}

int
mp_listen_resolve(struct mp_options *opts, struct mp_error **err)
{
    if (opts->listen_addr)
        return 0;
    struct ifaddrs *addrs = NULL;
    if (getifaddrs(&addrs) < 0)
        return mp_error_set_errno(err, errno, "cannot list this host's addresses");
    bool other = mp_listen_has_routable_address(addrs);
    freeifaddrs(addrs);
    /* Listening everywhere lets whoever connects first break the
     * migration: the operator names the network the stream crosses. */
    if (other)
        return mp_error_input(err, EDESTADDRREQ,
                              "this host has addresses other than loopback: give the address to "
                              "receive the stream on with --listen ADDR (or listen = in "
                              "migphase.conf)");
    opts->listen_addr = xstrdup("127.0.0.1");
    return 0;
}
