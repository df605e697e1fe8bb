/*
 * server.c — the HTTP server on libmicrohttpd (MHD): listening socket, request life cycle,
 * body limit, access log and graceful shutdown.
 *
 * Design
 *   We open the listening socket ourselves (clear errors such as "address in use", port 0
 *   resolved with getsockname) and hand it to MHD, which runs a pool of cfg.threads worker
 *   threads, each with its own epoll loop. For every request MHD calls on_request several times:
 *     1. headers complete (*con_cls == NULL): create the hk_req, count it in flight, and refuse
 *        at once with 413 when Content-Length is over cfg.body_limit (MHD then closes the
 *        connection without reading the body). A streaming route (uploads) is picked and its
 *        caller authenticated here already (hk_router_begin), so 401/403 come before the body;
 *        its limit is cfg.upload_limit, and its sink is started (hk_router_stream_open);
 *     2. body data (*upload_data_size > 0): append it, or discard it once over the limit
 *        (chunked bodies have no Content-Length to check up front); on a streaming route hand
 *        it to the sink instead (hk_router_stream_data), never holding it;
 *     3. body complete (*upload_data_size == 0): route, run the handler, queue the reply.
 *   When the request is over (reply sent, or the connection failed) MHD calls on_completed,
 *   which writes the access-log line, frees the request and decrements the in-flight count.
 *
 * The server also owns the import job runner (services/imports.h): started before the first
 * request and published as app->imports so uploads can wake it, stopped after the last.
 *
 * Graceful shutdown (hk_server_stop): MHD_quiesce_daemon stops accepting (we close the returned
 * listening socket, so new connections are refused at once), then we wait on a condition
 * variable until no request is in flight or cfg.shutdown_grace seconds have passed, then
 * MHD_stop_daemon closes what is left, and the import worker stops (a running import is
 * cancelled after its current batch and re-queued). Replies queued while stopping carry
 * "Connection: close" so keep-alive clients do not start new requests.
 *
 * Invariants: `inflight` counts requests whose hk_req exists (between step 1 and
 * on_completed); it is only changed under `lock`. The server state lives in struct hk_server;
 * there are no globals.
 *
 * Threads: on_request and on_completed run on MHD worker threads; one request is handled by one
 * thread throughout. start/stop/port are for the controlling thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/request_int.h"
#include "http/router.h"
#include "http/server.h"
#include "services/app.h"
#include "services/imports.h"

#define HK_CONNECTION_TIMEOUT_S 60u
#define HK_LISTEN_BACKLOG       256
#define HK_THREADS_MAX          1024

struct hk_server {
    struct hk_app *app; /* borrowed */
    struct MHD_Daemon *daemon;
    struct hk_import_worker *imports; /* owned; published as app->imports while serving */
    int port;
    atomic_bool stopping;

    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when inflight drops to 0; CLOCK_MONOTONIC */
    int inflight;        /* under lock */
};

/* ---- request life cycle ---------------------------------------------------------------------- */

static void inflight_add(struct hk_server *s, int delta)
{
    pthread_mutex_lock(&s->lock);
    s->inflight += delta;
    if (s->inflight == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result send_or_close(struct hk_server *s, struct hk_req *req)
{
    return hk_req_send(req, atomic_load(&s->stopping)) == 0 ? MHD_YES : MHD_NO;
}

static void reply_too_large(struct hk_req *req)
{
    struct hk_err err;
    if (req->route_streams)
        hk_err_set(&err, HK_E(TOOLARGE), "the upload is larger than the limit of %lld bytes",
                   (long long)req->app->cfg.upload_limit);
    else
        hk_err_set(&err, HK_E(TOOLARGE), "the request body is larger than the limit of %lld bytes",
                   (long long)req->app->cfg.body_limit);
    hk_req_reply_error(req, HK_E(TOOLARGE), &err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct hk_server *s = cls;
    struct hk_req *req = *con_cls;
    (void)version;

    if (!req) {
        req = hk_req_new(s->app, conn, method, url);
        if (!req)
            return MHD_NO; /* out of memory: MHD closes the connection */
        *con_cls = req;
        inflight_add(s, 1);
        /* An upload route is admitted (authenticated) before its body is read. */
        bool streams = hk_router_begin(req);
        if (req->status != 0)
            return send_or_close(s, req);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t n = 0;
        int64_t limit = streams ? s->app->cfg.upload_limit : s->app->cfg.body_limit;
        if (cl && hk_parse_int64(cl, strlen(cl), &n) == 0 && n > limit) {
            req->body_too_large = true;
            reply_too_large(req);
            return send_or_close(s, req);
        }
        if (streams) {
            hk_router_stream_open(req);
            if (req->status != 0)
                return send_or_close(s, req);
        }
        return MHD_YES;
    }
    if (req->queued) { /* replied early (401, 403, 413 ...): drop whatever still arrives */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->route_streams && *upload_data_size > 0) {
        hk_router_stream_data(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        int rc = hk_req_body_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (rc != 0 && rc != HK_E(TOOLARGE))
            return MHD_NO; /* out of memory */
        return MHD_YES;
    }
    if (req->body_too_large)
        reply_too_large(req);
    else
        hk_router_dispatch(req);
    return send_or_close(s, req);
}

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read_error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client_abort";
    }
    return "unknown";
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct hk_server *s = cls;
    struct hk_req *req = *con_cls;
    (void)conn;
    if (!req)
        return;
    *con_cls = NULL;

    char status[16], ms[32], bytes[32];
    snprintf(status, sizeof status, "%d", req->queued ? req->status : 0);
    snprintf(ms, sizeof ms, "%lld", (long long)(hk_monotonic_ms() - req->start_ms));
    snprintf(bytes, sizeof bytes, "%zu", req->queued ? req->bytes : (size_t)0);
    const char *end = termination_name(toe);
    /* A NULL key ends the list, so the "end" pair appears only for unusual endings. */
    hk_log_kv(&s->app->log, HK_LOG_INFO, "http.request", req->id, "method", req->method, "path",
              req->path, "status", status, "ms", ms, "bytes", bytes, end ? "end" : NULL, end, NULL);
    hk_req_free(req);
    inflight_add(s, -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct hk_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    hk_log_kv(&s->app->log, HK_LOG_WARN, "http.mhd", NULL, "msg", msg, NULL);
}

/* ---- start / stop -------------------------------------------------------------------------- */

static int open_listener(const struct hk_config *cfg, int *fd_out, int *port_out, bool *ipv6,
                         struct hk_err *err)
{
    if (cfg->port < 0 || cfg->port > 65535)
        return hk_err_set(err, HK_E(INVAL), "port %lld is not in 0..65535", (long long)cfg->port);
    char port[16];
    snprintf(port, sizeof port, "%d", (int)cfg->port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(cfg->listen[0] ? cfg->listen : NULL, port, &hints, &ai);
    if (gai != 0)
        return hk_err_set(err, HK_E(INVAL), "cannot listen on '%s': %s", cfg->listen,
                          gai_strerror(gai));

    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return hk_err_set(err, HK_E(IO), "cannot create a socket: %s", strerror(e));
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, HK_LISTEN_BACKLOG) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        close(fd);
        return hk_err_set(err, HK_E(IO), "cannot listen on %s port %s: %s%s", cfg->listen, port,
                          strerror(e),
                          e == EADDRINUSE ? " (choose another with --port, or 0 for any)" : "");
    }
    *ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        int e = errno;
        close(fd);
        return hk_err_set(err, HK_E(IO), "getsockname: %s", strerror(e));
    }
    if (ss.ss_family == AF_INET6)
        *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

int hk_server_start(struct hk_app *app, struct hk_server **out, struct hk_err *err)
{
    const struct hk_config *cfg = &app->cfg;
    int fd = -1, rc;
    bool ipv6 = false, sync_ready = false;
    if (cfg->threads < 1 || cfg->threads > HK_THREADS_MAX)
        return hk_err_set(err, HK_E(INVAL), "threads must be 1..%d, not %lld", HK_THREADS_MAX,
                          (long long)cfg->threads);
    if (cfg->body_limit < 0)
        return hk_err_set(err, HK_E(INVAL), "body_limit must not be negative");

    struct hk_server *s = calloc(1, sizeof *s);
    if (!s)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    s->app = app;
    atomic_init(&s->stopping, false);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&s->lock, NULL) != 0 || pthread_cond_init(&s->idle, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(s);
        return hk_err_set(err, HK_E(INTERNAL), "cannot initialise server locks");
    }
    pthread_condattr_destroy(&ca);
    sync_ready = true;

    if ((rc = open_listener(cfg, &fd, &s->port, &ipv6, err)) != 0)
        goto fail;
    /* Before the first request, so an upload always finds the worker to wake. */
    if ((rc = hk_import_worker_start(app, &s->imports, err)) != 0)
        goto fail;
    app->imports = s->imports;

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, /* the logger first, so it sees every message */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cfg->threads > 1 ? cfg->threads : 0),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)s, MHD_OPTION_CONNECTION_TIMEOUT,
        HK_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!s->daemon) {
        rc = hk_err_set(err, HK_E(IO), "cannot start the HTTP server on %s port %d", cfg->listen,
                        s->port);
        goto fail;
    }
    *out = s;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    app->imports = NULL;
    hk_import_worker_stop(s->imports);
    if (sync_ready) {
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->lock);
    }
    free(s);
    return rc;
}

int hk_server_port(const struct hk_server *s)
{
    return s->port;
}

int hk_server_stop(struct hk_server *s)
{
    if (!s)
        return 0;
    atomic_store(&s->stopping, true);
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);

    int64_t grace_ms = s->app->cfg.shutdown_grace > 0 ? s->app->cfg.shutdown_grace * 1000 : 0;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(grace_ms / 1000);

    pthread_mutex_lock(&s->lock);
    int waiting = s->inflight;
    while (s->inflight > 0) {
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int cut = s->inflight;
    pthread_mutex_unlock(&s->lock);

    char sw[16], sc[16];
    snprintf(sw, sizeof sw, "%d", waiting);
    snprintf(sc, sizeof sc, "%d", cut);
    hk_log_kv(&s->app->log, cut ? HK_LOG_WARN : HK_LOG_INFO, "http.stopped", NULL, "waited_for", sw,
              "cut", sc, NULL);

    MHD_stop_daemon(s->daemon); /* on_completed runs for the cut requests before it returns */
    /* No request can reach the worker any more: stop it (a running import is cancelled after its
       current batch and re-queued for the next start). */
    s->app->imports = NULL;
    hk_import_worker_stop(s->imports);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return cut;
}
