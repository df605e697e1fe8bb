/*
 * server.h — huike's HTTP server: libmicrohttpd with a pool of worker threads serving the
 * routes of routes.def under /api/v1.
 *
 * Every reply carries X-Request-Id (the client's when it sent a sane one), security headers and,
 * for errors, {"error": {"code", "message"}} with the status of the error table. Bodies larger
 * than cfg.body_limit are refused with 413 without being held in memory. Each request writes one
 * access-log line (event=http.request: req, method, path without query, status, ms, bytes);
 * headers, cookies, query values and bodies are never logged.
 *
 * Threads: hk_server_start and hk_server_stop are called from one controlling thread. The
 * worker threads inherit that thread's signal mask: block SIGTERM/SIGINT (and wait for them)
 * in the caller before starting, so that only the caller receives them.
 */
#ifndef HK_HTTP_SERVER_H
#define HK_HTTP_SERVER_H

struct hk_app;
struct hk_err;
struct hk_server; /* opaque */

/**
 * Starts serving on app->cfg.listen:app->cfg.port (port 0 picks a free port) with
 * app->cfg.threads worker threads, and the import job runner (services/imports.h). app is borrowed
 * and must outlive the server. Returns 0 and a new server in *out (stop and free it with
 * hk_server_stop); HK_E(INVAL) for a bad address, port or thread count; HK_E(IO) when it cannot
 * listen (the message says why, e.g. the address is in use).
 */
int hk_server_start(struct hk_app *app, struct hk_server **out, struct hk_err *err);

/** The TCP port the server listens on (the one picked when cfg.port was 0). */
int hk_server_port(const struct hk_server *s);

/**
 * Stops gracefully and frees s (which may be NULL): stops accepting connections, lets requests
 * in flight finish and their replies be sent for up to cfg.shutdown_grace seconds, then closes
 * every connection and stops the import worker (a running import is re-queued). Returns the number
 * of requests cut short when the grace ran out (0 when all finished).
 */
int hk_server_stop(struct hk_server *s);

#endif
