/*
 * test_api_cluster.c -- three real cairnd replicating on loopback.
 *
 * A write through one node is read byte-exact through the others (a blob
 * stored in its own file and a small inline one), deletes replicate, the
 * durability levels are honoured (majority met with one node down; all
 * answers 503 durability_timeout with acks 2 / required 3, and the write
 * still reaches the stopped node once it is back), /v1/cluster and
 * /metrics show the peers, a node with the wrong secret is refused
 * without disturbing the cluster, and a taken --peer-listen port refuses
 * the start.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_http.h"

#define LINKS_TIMEOUT_MS 15000
#define CONVERGE_TIMEOUT_MS 15000

/* Polls GET key_enc on n until it answers 200 with exactly the content of
 * (seed, size), or fails the test after CONVERGE_TIMEOUT_MS. */
static void wait_blob(const api_node_t *n, const char *key_enc, uint64_t seed, uint64_t size)
{
    uint64_t deadline = api_now_ms() + CONVERGE_TIMEOUT_MS;
    char target[512], hex[API_HASH_HEX];
    int status = 0;
    uint64_t got = 0;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key_enc);
    api_hash_gen_hex(seed, size, hex);
    for (;;) {
        api_resp_t r;
        int ok = 0;

        if (api_request(n, 1, "GET", target, NULL, NULL, 0, &r) == 0) {
            status = r.ar_status;
            got = r.ar_body_total;
            ok = r.ar_status == 200 && r.ar_body_total == size && strcmp(r.ar_hash, hex) == 0;
        }
        api_resp_free(&r);
        if (ok)
            return;
        if (api_now_ms() > deadline) {
            api_node_dump_log(n, 3000);
            ck_abort_msg("%s on the node at port %d: status %d, %llu bytes; expected 200 with "
                         "%llu bytes of hash %s within %d ms",
                         target, n->an_port, status, (unsigned long long)got,
                         (unsigned long long)size, hex, CONVERGE_TIMEOUT_MS);
        }
        api_sleep_ms(20);
    }
}

/* Polls GET key_enc on n until it answers 404. */
static void wait_gone(const api_node_t *n, const char *key_enc)
{
    uint64_t deadline = api_now_ms() + CONVERGE_TIMEOUT_MS;
    char target[512];
    int status = 0;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key_enc);
    for (;;) {
        api_resp_t r;

        if (api_request(n, 1, "GET", target, NULL, NULL, 0, &r) == 0)
            status = r.ar_status;
        api_resp_free(&r);
        if (status == 404)
            return;
        ck_assert_msg(api_now_ms() <= deadline, "%s still answers %d on port %d after %d ms",
                      target, status, n->an_port, CONVERGE_TIMEOUT_MS);
        api_sleep_ms(20);
    }
}

/* PUT generated content with ?durability=level; returns the response. */
static void put_level(const api_node_t *n, const char *key_enc, const char *level, uint64_t seed,
                      size_t size, api_resp_t *r)
{
    char target[512];
    uint8_t *data = api_gen_alloc(seed, size);

    snprintf(target, sizeof(target), "/v1/blobs/%s?durability=%s", key_enc, level);
    api_must_request(n, "PUT", target, NULL, data, size, r);
    free(data);
}

static double json_num(const api_json_t *j, const char *key)
{
    const api_json_t *v = api_json_get(j, key);

    ck_assert_msg(v != NULL && v->aj_type == AJ_NUM, "missing number \"%s\"", key);
    return v->aj_num;
}

/* GET /v1/cluster parsed (caller frees). */
static api_json_t *cluster_view(const api_node_t *n)
{
    api_resp_t r;
    api_json_t *j = NULL;
    const char *err = NULL;

    api_must_request(n, "GET", "/v1/cluster", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_msg(api_json_parse(r.ar_body, r.ar_body_len, &j, &err) == 0,
                  "/v1/cluster is not JSON (%s): %.300s", err, r.ar_body);
    api_resp_free(&r);
    return j;
}

START_TEST(test_cluster_replicates)
{
    api_cluster_t cl;
    api_node_t *n1, *n2, *n3;
    api_resp_t r;
    api_json_t *j;
    const api_json_t *peers;
    char *log;
    const size_t big = 300 * 1024; /* above the 64 KiB inline limit: a blob file */

    api_cluster_init(&cl, 3);
    n1 = &cl.acl_nodes[0];
    n2 = &cl.acl_nodes[1];
    n3 = &cl.acl_nodes[2];
    api_cluster_start(&cl);
    api_cluster_wait_links(&cl, LINKS_TIMEOUT_MS);

    /* /v1/cluster: every node sees the other two up. */
    for (int i = 0; i < 3; i++) {
        j = cluster_view(&cl.acl_nodes[i]);
        ck_assert_int_eq((int)json_num(j, "node_id"), i + 1);
        ck_assert_int_eq((int)json_num(j, "cluster_size"), 3);
        ck_assert_str_eq(api_json_str(j, "replication"), "active");
        ck_assert_int_eq((int)json_num(j, "pending_repairs"), 0);
        ck_assert(json_num(j, "live_writers") >= 0);
        ck_assert_int_eq((int)json_num(j, "links_up"), 2);
        peers = api_json_get(j, "peers");
        ck_assert(peers != NULL && peers->aj_type == AJ_ARR && peers->aj_n == 2);
        for (size_t p = 0; p < 2; p++) {
            const api_json_t *pe = peers->aj_items[p];
            ck_assert_str_eq(api_json_str(pe, "link"), "up");
            ck_assert(api_json_str(pe, "address") != NULL);
            ck_assert(json_num(pe, "lag_out_entries") >= 0);
            ck_assert(json_num(pe, "acked_seq") >= 0);
            ck_assert(api_json_get(pe, "transfer") != NULL);
        }
        api_json_free(j);
    }

    /* Write through node 1 (majority), read through 2 and 3. */
    put_level(n1, "c/big", "majority", 11, big, &r);
    {
        char hex[API_HASH_HEX];
        api_hash_gen_hex(11, big, hex);
        api_assert_put_ok(&r, "c/big", big, hex);
    }
    api_resp_free(&r);
    put_level(n1, "c/small", "majority", 12, 1000, &r);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);
    wait_blob(n2, "c/big", 11, big);
    wait_blob(n3, "c/big", 11, big);
    wait_blob(n2, "c/small", 12, 1000);
    wait_blob(n3, "c/small", 12, 1000);

    /* The reverse direction, and an overwrite from node 3 with level all. */
    put_level(n3, "c/big", "all", 13, big + 1, &r);
    ck_assert_msg(r.ar_status == 201, "PUT durability=all with all nodes up: %d %.300s",
                  r.ar_status, r.ar_body);
    api_resp_free(&r);
    /* all: every node holds it durably, so the reads need no polling. */
    api_must_get_gen(n1, "c/big", 13, big + 1);
    api_must_get_gen(n2, "c/big", 13, big + 1);

    /* Deletes replicate. */
    api_must_status(n1, "DELETE", "/v1/blobs/c/small?durability=majority", 204);
    wait_gone(n2, "c/small");
    wait_gone(n3, "c/small");

    /* /metrics: replication families with per-peer labels. */
    api_must_request(n2, "GET", "/metrics", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_repl_links_up") == 2, "links_up: %s", r.ar_body);
    ck_assert(strstr(r.ar_body, "cairn_repl_peer_up{peer=\"1\"} 1\n") != NULL);
    ck_assert(strstr(r.ar_body, "cairn_repl_peer_up{peer=\"3\"} 1\n") != NULL);
    ck_assert(api_metric_sum(r.ar_body, "cairn_repl_changes_applied_total") >= 3);
    ck_assert(api_metric_sum(r.ar_body, "cairn_repl_blob_bytes_received_total") >= (double)big);
    api_resp_free(&r);

    log = api_node_log(n1);
    ck_assert_msg(strstr(log, "level=error") == NULL, "errors in node 1's log:\n%.3000s", log);
    free(log);
    api_cluster_finish(&cl);
}
END_TEST

START_TEST(test_cluster_durability_levels)
{
    api_cluster_t cl;
    api_node_t *n1, *n3;
    api_resp_t r;
    api_json_t *j;
    const char *err = NULL;
    uint64_t t0, ms;
    int status = 0;

    api_cluster_init(&cl, 3);
    for (int i = 0; i < 3; i++) {
        api_node_arg(&cl.acl_nodes[i], "--durability-timeout");
        api_node_arg(&cl.acl_nodes[i], "2");
    }
    n1 = &cl.acl_nodes[0];
    n3 = &cl.acl_nodes[2];
    api_cluster_start(&cl);
    api_cluster_wait_links(&cl, LINKS_TIMEOUT_MS);

    /* Node 3 stops cleanly. */
    ck_assert_int_eq(api_node_stop(n3, SIGTERM, 20000, &status), 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node 3 exit status 0x%x", status);

    /* majority: 2 of 3 are up, met. */
    put_level(n1, "d/maj", "majority", 21, 5000, &r);
    ck_assert_msg(r.ar_status == 201, "majority with 2 of 3 up: %d %.300s", r.ar_status, r.ar_body);
    api_resp_free(&r);

    /* all: cannot be met; 503 durability_timeout after --durability-timeout. */
    t0 = api_now_ms();
    put_level(n1, "d/all", "all", 22, 200 * 1024, &r);
    ms = api_now_ms() - t0;
    api_assert_error(&r, 503, "durability_timeout");
    ck_assert_msg(api_resp_header(&r, "Retry-After") != NULL, "no Retry-After");
    ck_assert_msg(api_resp_header(&r, "X-Cairn-Version") != NULL, "no X-Cairn-Version");
    ck_assert_msg(ms >= 1900 && ms < 8000, "durability_timeout after %llu ms, expected ~2000",
                  (unsigned long long)ms);
    ck_assert_msg(api_json_parse(r.ar_body, r.ar_body_len, &j, &err) == 0, "body: %s", err);
    ck_assert_int_eq((int)json_num(j, "acks"), 2);
    ck_assert_int_eq((int)json_num(j, "required"), 3);
    api_json_free(j);
    api_resp_free(&r);
    /* The write stays: node 1 serves it. */
    api_must_get_gen(n1, "d/all", 22, 200 * 1024);
    /* A delete that cannot reach all nodes times out the same way. */
    api_must_request(n1, "DELETE", "/v1/blobs/d/maj?durability=all", NULL, NULL, 0, &r);
    api_assert_error(&r, 503, "durability_timeout");
    api_resp_free(&r);
    /* local never waits. */
    put_level(n1, "d/local", "local", 23, 10, &r);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);

    /* Node 3 comes back and converges on everything it missed. */
    api_node_start(n3);
    wait_blob(n3, "d/all", 22, 200 * 1024);
    wait_blob(n3, "d/local", 23, 10);
    wait_gone(n3, "d/maj");
    api_cluster_wait_links(&cl, LINKS_TIMEOUT_MS);
    put_level(n1, "d/all2", "all", 24, 3000, &r);
    ck_assert_msg(r.ar_status == 201, "all with every node back: %d %.300s", r.ar_status,
                  r.ar_body);
    api_resp_free(&r);

    api_must_request(n1, "GET", "/metrics", NULL, NULL, 0, &r);
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_repl_durability_timeouts_total") == 2,
                  "durability timeouts: %.300s", r.ar_body);
    api_resp_free(&r);
    api_cluster_finish(&cl);
}
END_TEST

START_TEST(test_cluster_wrong_secret)
{
    api_cluster_t cl;
    api_node_t intruder;
    api_resp_t r;
    api_json_t *j;
    uint64_t deadline;
    char buf[64];
    char *log;
    int found = 0;

    api_cluster_init(&cl, 3);
    api_cluster_start(&cl);
    api_cluster_wait_links(&cl, LINKS_TIMEOUT_MS);

    /* A 4th process claims node id 1 (so it dials nodes 2 and 3) but has
     * another secret: both refuse it before any session starts. */
    api_node_init(&intruder);
    api_node_arg(&intruder, "--node-id");
    api_node_arg(&intruder, "1");
    api_node_set_secret(&intruder, "not-the-cluster-secret");
    for (int k = 1; k < 3; k++) {
        snprintf(buf, sizeof(buf), "%d@127.0.0.1:%d", k + 1, cl.acl_nodes[k].an_peer_port);
        api_node_arg(&intruder, "--peer");
        api_node_arg(&intruder, buf);
    }
    api_node_start(&intruder);
    deadline = api_now_ms() + 10000;
    while (!found && api_now_ms() < deadline) {
        log = api_node_log(&cl.acl_nodes[1]);
        found = strstr(log, "event=repl.peer.rejected") != NULL &&
                strstr(log, "reason=cluster_mismatch") != NULL;
        free(log);
        if (!found)
            api_sleep_ms(50);
    }
    ck_assert_msg(found, "node 2 did not log the rejected peer");

    /* The intruder has no session; the cluster keeps its links and serves. */
    j = cluster_view(&intruder);
    ck_assert_int_eq((int)json_num(j, "links_up"), 0);
    api_json_free(j);
    api_cluster_wait_links(&cl, LINKS_TIMEOUT_MS);
    put_level(&cl.acl_nodes[1], "s/after", "all", 31, 70000, &r);
    ck_assert_msg(r.ar_status == 201, "PUT all after the intruder: %d %.300s", r.ar_status,
                  r.ar_body);
    api_resp_free(&r);
    api_must_get_gen(&cl.acl_nodes[0], "s/after", 31, 70000);
    api_must_get_gen(&cl.acl_nodes[2], "s/after", 31, 70000);
    api_must_status(&intruder, "GET", "/v1/blobs/s/after", 404);

    api_node_finish(&intruder);
    api_cluster_finish(&cl);
}
END_TEST

/* A --peer-listen port that is taken refuses the start: one line, exit 2. */
START_TEST(test_cluster_peer_port_busy)
{
    api_cluster_t cl;
    api_node_t *n;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd, port, http_port, unused, status = 0;
    pid_t pid;
    char *log;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);

    api_cluster_init(&cl, 2);
    n = &cl.acl_nodes[0];
    api_pick_ports(&http_port, &unused);
    pid = api_node_spawn_raw(n, n->an_data, http_port, port, n->an_log);
    ck_assert_int_eq(api_wait_exit(pid, 20000, &status), 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "exit status 0x%x", status);
    log = api_node_log(n);
    ck_assert_msg(strstr(log, "cairnd: error: cannot listen for peers on 127.0.0.1:") != NULL &&
                      strstr(log, "in use") != NULL,
                  "log: %.2000s", log);
    free(log);
    close(fd);
    api_cluster_finish(&cl);
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("api_cluster");
    TCase *tc = tcase_create("cluster");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_cluster_replicates);
    tcase_add_test(tc, test_cluster_durability_levels);
    tcase_add_test(tc, test_cluster_wrong_secret);
    tcase_add_test(tc, test_cluster_peer_port_busy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(cluster_suite());
}
