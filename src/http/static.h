/*
 * static.h — internal to src/http/: the web console's files (cfg.web_root, the Vite build in
 * web/dist) served for GET and HEAD requests outside /api/.
 *
 * Threads: any worker thread; nothing is shared but the read-only configuration.
 */
#ifndef HK_HTTP_STATIC_H
#define HK_HTTP_STATIC_H

#include <stdbool.h>

struct hk_req;

/** Whether req is for the static server: GET or HEAD of a path that is not /api or under /api/. */
bool hk_static_wants(const struct hk_req *req);

/**
 * Sets req's reply: the file (precompressed .gz when the client accepts gzip), index.html for
 * unknown paths without a file extension (the single-page app's routes), a JSON 404 for missing
 * files with an extension or paths with dot segments, or a JSON 404 saying how to build the
 * console when web_root holds no build.
 */
void hk_static_serve(struct hk_req *req);

#endif
