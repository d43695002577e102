/*
 * axon.h - the umbrella header: include this one.
 *
 *   axon/common.h  export macro and version
 *   axon/error.h   error codes, ax_strerror(), ax_last_error()
 *   axon/addr.h    addresses and URIs
 *   axon/socket.h  the direct layer (PHP ext/sockets parity)
 *   axon/loop.h    the event loop: timers, signals, fd watchers
 *   axon/conn.h    connections and the connector
 *   axon/server.h  listening servers
 *   axon/dns.h     asynchronous name resolution (c-ares)
 */
#ifndef AXON_H
#define AXON_H

#include "axon/common.h"
#include "axon/error.h"
#include "axon/addr.h"
#include "axon/socket.h"
#include "axon/loop.h"
#include "axon/conn.h"
#include "axon/server.h"
#include "axon/dns.h"

#endif
