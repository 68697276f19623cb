/*
 * test_http.c: netd/http.c and netd/resolve.c against local servers the
 * test starts on 127.0.0.1: a python3 HTTPS server whose certificate is
 * signed by a CA the openssl CLI makes here, the same behind a client
 * certificate requirement, a plain HTTP server, and an HTTP "proxy" that
 * answers every proxied request itself (so a request that reaches it
 * says so, and one for a name nobody can resolve succeeds only through
 * it).  No name goes to DNS: names come from hosts entries, "localhost"
 * or IP literals, which is also what resolve.c is tested with.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ares.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "berth.h"
#include "http.h"
#include "resolve.h"

#define WAIT_SECONDS	20

/* What the python servers do; they print their ports as one JSON line. */
static const char server_py[] =
"import email.utils, http.server, json, socketserver, ssl, sys, time\n"
"import threading\n"
"d = sys.argv[1]\n"
"class H(http.server.BaseHTTPRequestHandler):\n"
"    protocol_version = 'HTTP/1.1'\n"
"    def log_message(self, *a): pass\n"
"    def reply(self, code, body, ctype='application/json', extra=()):\n"
"        b = body.encode() if isinstance(body, str) else body\n"
"        self.send_response(code)\n"
"        self.send_header('Content-Type', ctype)\n"
"        self.send_header('Content-Length', str(len(b)))\n"
"        for name, value in extra:\n"
"            self.send_header(name, value)\n"
"        self.end_headers()\n"
"        self.wfile.write(b)\n"
"    def do_GET(self):\n"
"        if self.path.startswith('http://'):\n"
"            return self.reply(200, json.dumps({'via': 'proxy',\n"
"                'url': self.path}))\n"
"        if self.path == '/json':\n"
"            return self.reply(200, json.dumps({'ok': True,\n"
"                'auth': self.headers.get('Authorization', '')}))\n"
"        if self.path == '/big':\n"
"            return self.reply(200, '[' + '1,' * 600000 + '1]')\n"
"        if self.path == '/slow':\n"
"            time.sleep(4)\n"
"            return self.reply(200, '{}')\n"
"        if self.path == '/busy':\n"
"            return self.reply(503, '{}', extra=[('Retry-After', '7')])\n"
"        if self.path == '/busy-date':\n"
"            when = email.utils.formatdate(time.time() + 30, usegmt=True)\n"
"            return self.reply(429, '{}', extra=[('Retry-After', when)])\n"
"        if self.path == '/busy-twice':\n"
"            return self.reply(503, '{}', extra=[('Retry-After', '7'),\n"
"                ('Retry-After', '9')])\n"
"        if self.path == '/busy-junk':\n"
"            return self.reply(503, '{}', extra=[('Retry-After', 'soon')])\n"
"        if self.path == '/text':\n"
"            return self.reply(200, 'not json', 'text/plain')\n"
"        if self.path == '/redirect':\n"
"            self.send_response(302)\n"
"            self.send_header('Location', '/json')\n"
"            self.send_header('Content-Length', '0')\n"
"            self.end_headers()\n"
"            return\n"
"        self.reply(404, '{\"error\": \"no\"}')\n"
"    def do_POST(self):\n"
"        n = int(self.headers.get('Content-Length', '0'))\n"
"        body = json.loads(self.rfile.read(n))\n"
"        self.reply(201, json.dumps({'got': body, 'method': 'POST',\n"
"            'type': self.headers.get('Content-Type')}))\n"
"class S(socketserver.ThreadingMixIn, http.server.HTTPServer):\n"
"    daemon_threads = True\n"
"    def handle_error(self, *a): pass\n"
"def serve(tls, mtls=False):\n"
"    s = S(('127.0.0.1', 0), H)\n"
"    if tls:\n"
"        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
"        c.load_cert_chain(d + '/server.pem', d + '/server.key')\n"
"        if mtls:\n"
"            c.verify_mode = ssl.CERT_REQUIRED\n"
"            c.load_verify_locations(d + '/ca.pem')\n"
"        s.socket = c.wrap_socket(s.socket, server_side=True)\n"
"    threading.Thread(target=s.serve_forever, daemon=True).start()\n"
"    return s.server_address[1]\n"
"ports = {'https': serve(True), 'mtls': serve(True, True),\n"
"    'http': serve(False), 'proxy': serve(False)}\n"
"print(json.dumps(ports), flush=True)\n"
"sys.stdin.read()\n";

/* The CA, a server certificate for three names, a client and a stranger. */
static const char make_certs_sh[] =
"set -e; cd \"$1\"\n"
"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 "
"-subj /CN=berth-test-ca 2>/dev/null\n"
"openssl req -x509 $ec -keyout other.key -out other.pem -days 2 "
"-subj /CN=other-ca 2>/dev/null\n"
"openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost "
"2>/dev/null\n"
"echo 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:berth.test' > s.ext\n"
"openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
"-CAcreateserial -out server.pem -days 2 -extfile s.ext 2>/dev/null\n"
"openssl req $ec -keyout client.key -out client.csr -subj /CN=node "
"2>/dev/null\n"
"echo 'extendedKeyUsage=clientAuth' > c.ext\n"
"openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
"-CAcreateserial -out client.pem -days 2 -extfile c.ext 2>/dev/null\n"
"openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin "
"-outform der | openssl dgst -sha256 -binary | openssl base64 -A > pin\n";

struct harness {
	int			 no_tools;	/* openssl or python3 missing */
	char			 dir[64];
	pid_t			 server;
	int			 server_stdin;
	int			 https, mtls, http, proxy;	/* ports */
	char			*ca, *other_ca, *cert, *key, pin[128];
	size_t			 ca_len, other_len, cert_len, key_len;
	struct event_base	*base;
	struct resolve		*resolve;
	struct event		*tick;
};

struct result {
	int		 done;
	int		 status;
	char		 error[HTTP_REASON_LEN];
	char		*body;
	json_t		*json;
	int		 not_json;
	long		 retry_after;
	long long	 date;
};

static struct harness	 h;

static char *
slurp(const char *name, size_t *len)
{
	char	 path[128], *buf;

	(void)snprintf(path, sizeof(path), "%s/%s", h.dir, name);
	if (http_ca_read(path, &buf, len) == -1)
		return NULL;
	return buf;
}

static int
make_certs(void)
{
	char	 cmd[256], path[128];
	size_t	 len;
	char	*pin;
	FILE	*fp;

	/* The script goes in a file: its quotes would fight the shell's. */
	(void)snprintf(path, sizeof(path), "%s/certs.sh", h.dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(make_certs_sh, fp);
	fclose(fp);
	(void)snprintf(cmd, sizeof(cmd), "sh %s %s", path, h.dir);
	if (system(cmd) != 0)
		return -1;
	if ((h.ca = slurp("ca.pem", &h.ca_len)) == NULL ||
	    (h.other_ca = slurp("other.pem", &h.other_len)) == NULL ||
	    (h.cert = slurp("client.pem", &h.cert_len)) == NULL ||
	    (h.key = slurp("client.key", &h.key_len)) == NULL ||
	    (pin = slurp("pin", &len)) == NULL)
		return -1;
	(void)snprintf(h.pin, sizeof(h.pin), "sha256//%s", pin);
	free(pin);
	return 0;
}

/* python3 server.py DIR; its first line of output names the ports. */
static int
start_servers(void)
{
	char	 path[128], line[256];
	int	 in[2], out[2];
	FILE	*fp;
	json_t	*ports;

	(void)snprintf(path, sizeof(path), "%s/server.py", h.dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(server_py, fp);
	fclose(fp);
	if (pipe(in) == -1 || pipe(out) == -1)
		return -1;
	if ((h.server = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("python3", "python3", path, h.dir, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* Our end of its stdin: closing it (or dying) stops the servers. */
	h.server_stdin = in[1];
	if ((fp = fdopen(out[0], "r")) == NULL ||
	    fgets(line, sizeof(line), fp) == NULL)
		return -1;
	fclose(fp);
	if ((ports = json_loads(line, 0, NULL)) == NULL ||
	    json_unpack(ports, "{s:i, s:i, s:i, s:i}", "https", &h.https,
	    "mtls", &h.mtls, "http", &h.http, "proxy", &h.proxy) == -1)
		return -1;
	json_decref(ports);
	return 0;
}

static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

static int
group_setup(void **state)
{
	struct wire_resolver	 conf;
	struct timeval		 tv = { 0, 100 * 1000 };

	(void)state;
	(void)strlcpy(h.dir, "/tmp/berth-http.XXXXXX", sizeof(h.dir));
	if (mkdtemp(h.dir) == NULL)
		return -1;
	/* Without the tools only the tests that need no server run. */
	if (system("command -v openssl >/dev/null && "
	    "command -v python3 >/dev/null") != 0)
		h.no_tools = 1;
	else if (make_certs() == -1 || start_servers() == -1)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS ||
	    (h.base = event_base_new()) == NULL ||
	    (h.resolve = resolve_new(h.base)) == NULL)
		return -1;
	memset(&conf, 0, sizeof(conf));
	conf.nhosts = 1;
	(void)strlcpy(conf.hosts[0].name, "berth.test",
	    sizeof(conf.hosts[0].name));
	(void)strlcpy(conf.hosts[0].addr, "127.0.0.1",
	    sizeof(conf.hosts[0].addr));
	if (resolve_configure(h.resolve, &conf) == -1)
		return -1;
	if ((h.tick = event_new(h.base, -1, EV_PERSIST, on_tick, NULL)) ==
	    NULL || event_add(h.tick, &tv) == -1)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	char	 cmd[128];
	int	 status;

	(void)state;
	if (h.server > 0) {
		close(h.server_stdin);
		kill(h.server, SIGTERM);
		(void)waitpid(h.server, &status, 0);
	}
	resolve_free(h.resolve);
	event_free(h.tick);
	event_base_free(h.base);
	free(h.ca);
	free(h.other_ca);
	free(h.cert);
	free(h.key);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", h.dir);
	(void)system(cmd);
	curl_global_cleanup();
	return 0;
}

static void
need_servers(void)
{
	if (h.no_tools) {
		print_message("openssl or python3 missing; skipped\n");
		skip();
	}
}

static void
run_until(const int *flag)
{
	time_t	 deadline = time(NULL) + WAIT_SECONDS;

	while (!*flag) {
		assert_true(time(NULL) < deadline);
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
}

static void
on_done(struct http_request *req, const struct http_response *resp,
    void *arg)
{
	struct result	*r = arg;

	(void)req;
	r->done = 1;
	r->status = resp->status;
	if (resp->error != NULL)
		(void)strlcpy(r->error, resp->error, sizeof(r->error));
	r->body = strndup(resp->body, resp->len);
	r->json = resp->json != NULL ? json_incref(resp->json) : NULL;
	r->not_json = resp->json_error != NULL;
	r->retry_after = resp->retry_after;
	r->date = resp->date;
}

static void
result_clear(struct result *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static void
conf_tls(struct http_client_conf *conf, const char *ca, size_t ca_len)
{
	memset(conf, 0, sizeof(*conf));
	conf->tls.ca = ca;
	conf->tls.ca_len = ca_len;
}

/* One request with its own client; the client is gone afterwards. */
static void
fetch(const struct http_client_conf *conf, const char *method,
    const char *url, const char *json, size_t max, long timeout_ms,
    struct result *r)
{
	struct http_client	*c;
	struct http_request_spec spec;

	memset(r, 0, sizeof(*r));
	assert_non_null(c = http_client_new(h.base, h.resolve, conf));
	memset(&spec, 0, sizeof(spec));
	spec.method = method;
	spec.url = url;
	spec.json = json;
	spec.parse_json = 1;
	spec.max_response = max;
	spec.timeout_ms = timeout_ms;
	spec.on_done = on_done;
	spec.arg = r;
	assert_non_null(http_request(c, &spec));
	run_until(&r->done);
	assert_int_equal(http_inflight(c), 0);
	http_client_free(c);
}

static void
url(char *buf, size_t size, const char *scheme, const char *host, int port,
    const char *path)
{
	(void)snprintf(buf, size, "%s://%s:%d%s", scheme, host, port, path);
}

/* --- TLS ---------------------------------------------------------------- */

static void
test_https_right_ca(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, h.ca, h.ca_len);
	url(u, sizeof(u), "https", "127.0.0.1", h.https, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	result_clear(&r);
}

static void
test_https_wrong_ca(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, h.other_ca, h.other_len);
	url(u, sizeof(u), "https", "127.0.0.1", h.https, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.error, "certificate"));
	result_clear(&r);
}

/* Without a CA bundle https is refused outright; http still works. */
static void
test_https_no_ca(void **state)
{
	struct http_client_conf	 conf;
	struct http_client	*c;
	struct http_request_spec spec;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	assert_non_null(c = http_client_new(h.base, h.resolve, &conf));
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.on_done = on_done;
	spec.arg = &r;
	url(u, sizeof(u), "https", "127.0.0.1", h.https, "/json");
	spec.url = u;
	assert_null(http_request(c, &spec));
	spec.url = "https://berth.test/json";
	assert_null(http_request(c, &spec));
	assert_int_equal(http_inflight(c), 0);
	http_client_free(c);
}

static void
test_https_pin(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];
	const char		*wrong =
	    "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

	(void)state;
	need_servers();
	url(u, sizeof(u), "https", "127.0.0.1", h.https, "/json");
	conf_tls(&conf, h.ca, h.ca_len);
	conf.tls.pin = h.pin;
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);

	conf.tls.pin = wrong;
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, -1);
	assert_non_null(strcasestr(r.error, "public key"));
	/* Named as what it is, not as a generic TLS failure. */
	assert_non_null(strstr(r.error, "pin mismatch"));
	result_clear(&r);

	/* The right key among others passes. */
	{
		char	 both[256];

		(void)snprintf(both, sizeof(both), "%s;%s", wrong, h.pin);
		conf.tls.pin = both;
		fetch(&conf, "GET", u, NULL, 0, 5000, &r);
		assert_int_equal(r.status, 200);
		result_clear(&r);
	}
}

static void
test_https_client_certificate(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	url(u, sizeof(u), "https", "127.0.0.1", h.mtls, "/json");
	conf_tls(&conf, h.ca, h.ca_len);
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, -1);
	result_clear(&r);

	conf.tls.cert = h.cert;
	conf.tls.cert_len = h.cert_len;
	conf.tls.key = h.key;
	conf.tls.key_len = h.key_len;
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

static void
test_insecure_flag(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, h.other_ca, h.other_len);
	conf.tls.insecure = 1;
	url(u, sizeof(u), "https", "127.0.0.1", h.https, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

/* --- plain HTTP, JSON, limits ------------------------------------------- */

static void
test_http_get_post(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	result_clear(&r);

	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/echo");
	fetch(&conf, "POST", u, "{\"n\": 42}", 0, 5000, &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(json_integer_value(json_object_get(
	    json_object_get(r.json, "got"), "n")), 42);
	assert_string_equal(json_string_value(json_object_get(r.json,
	    "type")), "application/json");
	result_clear(&r);

	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/text");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_null(r.json);
	assert_true(r.not_json);
	assert_string_equal(r.body, "not json");
	result_clear(&r);
}

static void
test_headers_sent(void **state)
{
	struct http_client_conf	 conf;
	struct http_client	*c;
	struct http_request_spec spec;
	struct result		 r;
	const char		*headers[] = {
		"Authorization: Bearer t0k", NULL
	};
	const char		*bad[] = { "X: a\r\nInjected: b", NULL };
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/json");
	memset(&r, 0, sizeof(r));
	assert_non_null(c = http_client_new(h.base, h.resolve, &conf));
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.url = u;
	spec.headers = bad;
	spec.parse_json = 1;
	spec.on_done = on_done;
	spec.arg = &r;
	assert_null(http_request(c, &spec));
	spec.headers = headers;
	assert_non_null(http_request(c, &spec));
	run_until(&r.done);
	assert_string_equal(json_string_value(json_object_get(r.json,
	    "auth")), "Bearer t0k");
	result_clear(&r);
	http_client_free(c);
}

static void
test_response_over_cap(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/big");
	fetch(&conf, "GET", u, NULL, 64 * 1024, 5000, &r);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.error, "larger than 65536"));
	result_clear(&r);
	/* Under a cap that fits, the same body arrives whole. */
	fetch(&conf, "GET", u, NULL, 2 * 1024 * 1024, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 600001);
	result_clear(&r);
}

static void
test_no_redirects(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/redirect");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 302);
	result_clear(&r);
}

static void
test_timeout_and_cancel(void **state)
{
	struct http_client_conf	 conf;
	struct http_client	*c;
	struct http_request_spec spec;
	struct http_request	*req;
	struct result		 r, never;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/slow");
	fetch(&conf, "GET", u, NULL, 0, 300, &r);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.error, "timed out"));
	result_clear(&r);

	/* Cancelled mid-transfer: its callback never runs. */
	memset(&never, 0, sizeof(never));
	memset(&r, 0, sizeof(r));
	assert_non_null(c = http_client_new(h.base, h.resolve, &conf));
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.url = u;
	spec.on_done = on_done;
	spec.arg = &never;
	assert_non_null(req = http_request(c, &spec));
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/json");
	spec.arg = &r;
	assert_non_null(http_request(c, &spec));
	run_until(&r.done);
	http_request_cancel(req);
	assert_int_equal(http_inflight(c), 0);
	assert_false(never.done);
	/* And one cancelled before its name was even resolved. */
	spec.url = "http://berth.test:1/never";
	spec.arg = &never;
	assert_non_null(req = http_request(c, &spec));
	http_request_cancel(req);
	assert_int_equal(http_inflight(c), 0);
	{
		struct timeval	 tv = { 0, 200 * 1000 };

		event_base_loopexit(h.base, &tv);
		event_base_dispatch(h.base);
	}
	assert_false(never.done);
	result_clear(&r);
	http_client_free(c);
}

/* --- Retry-After and Date ---------------------------------------------- */

/* RFC 9110's example date, Sun, 06 Nov 1994 08:49:37 GMT. */
#define EXAMPLE_DATE	784111777LL

static void
test_retry_after_parse(void **state)
{
	static const struct {
		const char	*value;
		long long	 now;
		long		 want;
	} cases[] = {
		{ "0", 0, 0 },
		{ "7", 0, 7 },
		{ "120", EXAMPLE_DATE, 120 },
		{ "0007", 0, 7 },
		{ "86400", 0, HTTP_RETRY_AFTER_MAX },
		{ "86401", 0, HTTP_RETRY_AFTER_MAX },
		{ "99999999999999999999999999", 0, HTTP_RETRY_AFTER_MAX },
		/* The three HTTP-date forms, counted from now. */
		{ "Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_DATE - 10, 10 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE_DATE - 10, 10 },
		{ "Sun Nov  6 08:49:37 1994", EXAMPLE_DATE - 10, 10 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_DATE, 0 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_DATE + 3600, 0 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 0, HTTP_RETRY_AFTER_MAX },
		/* Neither delta-seconds nor a date. */
		{ "", 0, -1 },
		{ "-5", 0, -1 },
		{ "+5", 0, -1 },
		{ "5s", 0, -1 },
		{ "1.5", 0, -1 },
		{ "5 ", 0, -1 },
		{ " 5", 0, -1 },
		{ "0x10", 0, -1 },
		{ "soon", 0, -1 },
		{ "Sun, 06 Nov", 0, -1 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT\r\nX: y", 0, -1 },
	};
	size_t	 i;
	long	 got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = http_retry_after_parse(cases[i].value, cases[i].now);
		if (got != cases[i].want)
			fail_msg("\"%s\" at %lld: %ld, want %ld",
			    cases[i].value, cases[i].now, got, cases[i].want);
	}
}

/* What the answers' headers say reaches the caller, whatever the status. */
static void
test_retry_after_header(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];
	long long		 now = (long long)time(NULL);

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/busy");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.retry_after, 7);
	/* The server's Date, read: the same clock as ours here. */
	assert_true(r.date >= now - 5 && r.date <= now + 5);
	result_clear(&r);

	/* A date is counted from the server's Date, not from our clock. */
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/busy-date");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 429);
	assert_true(r.retry_after >= 29 && r.retry_after <= 30);
	result_clear(&r);

	/* Said twice, or unreadable: as good as not said. */
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/busy-twice");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.retry_after, -1);
	result_clear(&r);
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/busy-junk");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.retry_after, -1);
	result_clear(&r);

	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.retry_after, -1);
	result_clear(&r);

	/* No answer, no headers. */
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/slow");
	fetch(&conf, "GET", u, NULL, 0, 300, &r);
	assert_int_equal(r.status, -1);
	assert_int_equal(r.retry_after, -1);
	assert_true(r.date == 0);
	result_clear(&r);
}

/* --- names and proxies -------------------------------------------------- */

static void
test_names_from_hosts_and_localhost(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, h.ca, h.ca_len);
	/* The certificate names berth.test: TLS checks the name we used. */
	url(u, sizeof(u), "https", "berth.test", h.https, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);

	url(u, sizeof(u), "https", "localhost", h.https, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);

	/* No nameserver was given: other names fail, and say why. */
	url(u, sizeof(u), "https", "nothere.invalid", h.https, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.error, "no nameservers"));
	result_clear(&r);
}

static void
test_proxy(void **state)
{
	struct http_client_conf	 conf;
	struct result		 r;
	char			 u[128];

	(void)state;
	need_servers();
	conf_tls(&conf, NULL, 0);
	(void)snprintf(conf.proxy.http_proxy, sizeof(conf.proxy.http_proxy),
	    "http://127.0.0.1:%d", h.proxy);
	/* Only the proxy can answer for a name nobody resolves. */
	fetch(&conf, "GET", "http://nothere.invalid/x", NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "via")),
	    "proxy");
	assert_string_equal(json_string_value(json_object_get(r.json, "url")),
	    "http://nothere.invalid/x");
	result_clear(&r);

	/* NO_PROXY exempts 127.0.0.1: the real server answers. */
	(void)strlcpy(conf.proxy.no_proxy, "example.com, 127.0.0.0/8",
	    sizeof(conf.proxy.no_proxy));
	url(u, sizeof(u), "http", "127.0.0.1", h.http, "/json");
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	result_clear(&r);

	/* A proxy named by a hosts entry, with no port: the scheme's. */
	(void)snprintf(conf.proxy.http_proxy, sizeof(conf.proxy.http_proxy),
	    "berth.test:%d", h.proxy);
	fetch(&conf, "GET", "http://other.invalid/y", NULL, 0, 5000, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "via")),
	    "proxy");
	result_clear(&r);

	/* HTTPS_PROXY does not apply to http URLs. */
	memset(&conf.proxy, 0, sizeof(conf.proxy));
	(void)snprintf(conf.proxy.https_proxy, sizeof(conf.proxy.https_proxy),
	    "http://127.0.0.1:%d", h.proxy);
	fetch(&conf, "GET", u, NULL, 0, 5000, &r);
	assert_true(json_is_true(json_object_get(r.json, "ok")));
	result_clear(&r);
}

static void
test_no_proxy_match(void **state)
{
	static const struct {
		const char	*list, *host;
		int		 match;
	} cases[] = {
		{ "", "example.com", 0 },
		{ "*", "example.com", 1 },
		{ "example.com", "example.com", 1 },
		{ "example.com", "api.example.com", 1 },
		{ ".example.com", "api.example.com", 1 },
		{ ".example.com", "example.com", 1 },
		{ "example.com", "badexample.com", 0 },
		{ "EXAMPLE.com", "api.Example.COM", 1 },
		{ "a.org,  b.org example.com", "x.example.com", 1 },
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "11.1.2.3", 0 },
		{ "192.168.1.0/25", "192.168.1.127", 1 },
		{ "192.168.1.0/25", "192.168.1.128", 0 },
		{ "fd00::/8", "fd12::1", 1 },
		{ "fd00::/8", "fe80::1", 0 },
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "10.0.0.0/33", "10.0.0.1", 0 },
		{ "10.0.0.0/", "10.0.0.1", 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (http_no_proxy_match(cases[i].list, cases[i].host) !=
		    cases[i].match)
			fail_msg("no_proxy \"%s\" host %s: expected %d",
			    cases[i].list, cases[i].host, cases[i].match);
}

static void
test_refusals(void **state)
{
	struct http_client_conf	 conf;
	struct http_client	*c;
	struct http_request_spec spec;
	struct result		 r;
	static const char *const urls[] = {
		"ftp://127.0.0.1/x",
		"file:///etc/passwd",
		"http://user:secret@127.0.0.1/x",
		"http://:80/nohost",
		"http://[::1/x",
		"not a url",
		"http://bad_host!/x",
	};
	size_t			 i;

	(void)state;
	need_servers();
	/* A pin that is not sha256// would be read as a file name. */
	conf_tls(&conf, h.ca, h.ca_len);
	conf.tls.pin = "/etc/passwd";
	assert_null(http_client_new(h.base, h.resolve, &conf));
	conf.tls.pin = "sha256//tooshort";
	assert_null(http_client_new(h.base, h.resolve, &conf));
	conf.tls.pin = NULL;
	conf.tls.cert = h.cert;
	conf.tls.cert_len = h.cert_len;
	assert_null(http_client_new(h.base, h.resolve, &conf));

	conf_tls(&conf, h.ca, h.ca_len);
	memset(&r, 0, sizeof(r));
	assert_non_null(c = http_client_new(h.base, h.resolve, &conf));
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.on_done = on_done;
	spec.arg = &r;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		spec.url = urls[i];
		if (strcmp(urls[i], "http://bad_host!/x") == 0) {
			/* curl takes it; our resolver refuses the name. */
			if (http_request(c, &spec) != NULL) {
				run_until(&r.done);
				assert_int_equal(r.status, -1);
				result_clear(&r);
			}
			continue;
		}
		assert_null(http_request(c, &spec));
	}
	spec.url = "http://127.0.0.1/x";
	spec.json = "{}";
	assert_null(http_request(c, &spec));	/* GET with a body */
	spec.method = "TRACE";
	assert_null(http_request(c, &spec));
	assert_int_equal(http_inflight(c), 0);
	http_client_free(c);
}

/* --- resolve.c ---------------------------------------------------------- */

struct lookup {
	int			 done;
	struct resolve_answer	 answer;
	char			 error[300];
};

static void
on_resolved(const struct resolve_answer *answer, const char *error,
    void *arg)
{
	struct lookup	*l = arg;

	l->done = 1;
	if (answer != NULL)
		l->answer = *answer;
	else
		(void)strlcpy(l->error, error, sizeof(l->error));
}

static void
lookup(const char *name, struct lookup *l)
{
	memset(l, 0, sizeof(*l));
	assert_non_null(resolve_lookup(h.resolve, name, on_resolved, l));
	/* Never from inside resolve_lookup(). */
	assert_false(l->done);
	run_until(&l->done);
}

static void
test_resolve_without_dns(void **state)
{
	struct lookup	 l;

	(void)state;
	lookup("192.0.2.7", &l);
	assert_int_equal(l.answer.source, RESOLVE_LITERAL);
	assert_int_equal(l.answer.naddrs, 1);
	assert_string_equal(l.answer.addrs[0], "192.0.2.7");

	lookup("2001:db8::1", &l);
	assert_int_equal(l.answer.source, RESOLVE_LITERAL);
	assert_string_equal(l.answer.addrs[0], "2001:db8::1");

	lookup("BERTH.test", &l);
	assert_int_equal(l.answer.source, RESOLVE_HOSTS);
	assert_int_equal(l.answer.naddrs, 1);
	assert_string_equal(l.answer.addrs[0], "127.0.0.1");

	lookup("localhost", &l);
	assert_int_equal(l.answer.source, RESOLVE_LOCALHOST);
	assert_int_equal(l.answer.naddrs, 2);
	assert_string_equal(l.answer.addrs[0], "127.0.0.1");
	assert_string_equal(l.answer.addrs[1], "::1");
	lookup("api.localhost", &l);
	assert_int_equal(l.answer.source, RESOLVE_LOCALHOST);

	lookup("bad name", &l);
	assert_non_null(strstr(l.error, "not a host name"));
	lookup("a..b", &l);
	assert_non_null(strstr(l.error, "not a host name"));
	lookup("unknown.invalid", &l);
	assert_non_null(strstr(l.error, "no nameservers"));
}

static void
test_resolve_servers_exactly(void **state)
{
	struct wire_resolver	 conf;
	struct resolve		*res;
	struct lookup		 l;
	char			 csv[256];

	(void)state;
	assert_non_null(res = resolve_new(h.base));
	/* At first: none at all, not c-ares' default of 127.0.0.1. */
	assert_int_equal(resolve_servers(res, csv, sizeof(csv)), 0);
	assert_string_equal(csv, "");

	memset(&conf, 0, sizeof(conf));
	conf.nnameservers = 3;
	(void)strlcpy(conf.nameservers[0], "192.0.2.53", WIRE_ADDR_LEN);
	(void)strlcpy(conf.nameservers[1], "2001:db8::53", WIRE_ADDR_LEN);
	(void)strlcpy(conf.nameservers[2], "198.51.100.1", WIRE_ADDR_LEN);
	assert_int_equal(resolve_configure(res, &conf), 0);
	assert_int_equal(resolve_servers(res, csv, sizeof(csv)), 0);
	assert_string_equal(csv, "192.0.2.53,2001:db8::53,198.51.100.1");

	/* A new configuration replaces the old one wholesale. */
	conf.nnameservers = 1;
	(void)strlcpy(conf.nameservers[0], "203.0.113.9", WIRE_ADDR_LEN);
	assert_int_equal(resolve_configure(res, &conf), 0);
	assert_int_equal(resolve_servers(res, csv, sizeof(csv)), 0);
	assert_string_equal(csv, "203.0.113.9");

	/* A query in flight to an unreachable server, cancelled, then freed. */
	memset(&l, 0, sizeof(l));
	resolve_cancel(resolve_lookup(res, "example.invalid", on_resolved,
	    &l));
	assert_non_null(resolve_lookup(res, "example.invalid", on_resolved,
	    &l));
	resolve_free(res);
	assert_false(l.done);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_https_right_ca),
		cmocka_unit_test(test_https_wrong_ca),
		cmocka_unit_test(test_https_no_ca),
		cmocka_unit_test(test_https_pin),
		cmocka_unit_test(test_https_client_certificate),
		cmocka_unit_test(test_insecure_flag),
		cmocka_unit_test(test_http_get_post),
		cmocka_unit_test(test_headers_sent),
		cmocka_unit_test(test_response_over_cap),
		cmocka_unit_test(test_no_redirects),
		cmocka_unit_test(test_timeout_and_cancel),
		cmocka_unit_test(test_retry_after_parse),
		cmocka_unit_test(test_retry_after_header),
		cmocka_unit_test(test_names_from_hosts_and_localhost),
		cmocka_unit_test(test_proxy),
		cmocka_unit_test(test_no_proxy_match),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_resolve_without_dns),
		cmocka_unit_test(test_resolve_servers_exactly),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
