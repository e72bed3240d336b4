/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where Prepare listens for the stream: never on every address unless the
 * operator asked for it. */
#pragma once

#include "error.h"
#include "options.h"

#include <ifaddrs.h>

/* Fill opts->listen_addr when --listen (or listen = in the config) did not:
 * loopback on a host whose only addresses are loopback ones; on any other
 * host, an input error that asks for --listen. */
int mp_listen_resolve(struct mp_options *opts, struct mp_error **err);

/* The decision on a given list of interface addresses (getifaddrs(3)), for
 * tests: whether any is neither loopback nor IPv6 link-local. */
bool mp_listen_has_routable_address(const struct ifaddrs *addrs);
