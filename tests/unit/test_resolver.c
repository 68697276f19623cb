/*
 * test_resolver.c: parent/resolver.c, which reads resolv.conf and hosts
 * for netd, and wire_decode_resolver(), which checks what arrives.  What
 * the parser keeps is exactly what the decoder accepts, whatever the
 * files hold; what the decoder refuses is every kind of bad field.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth.h"
#include "imsg.h"
#include "resolver.h"
#include "wire.h"

static const char resolv_conf[] =
"# written by hand\n"
"search example.com\n"
"options ndots:2 timeout:1\n"
"nameserver 192.0.2.1\n"
"nameserver\t2001:db8::53   # v6\n"
"nameserver fe80::1%eth0\n"			/* scoped: not for the wire */
"nameserver not-an-address\n"
"; nameserver 192.0.2.99\n"
"nameserver 192.0.2.2\n"
"  nameserver 192.0.2.3\n"
"nameserver 192.0.2.4\n"			/* the fifth: dropped */
"nameserver";					/* no newline, no value */

static const char hosts[] =
"127.0.0.1\tlocalhost\n"
"127.0.1.1\tnode1.example.com node1\n"
"::1     localhost ip6-localhost ip6-loopback\n"
"ff02::1 ip6-allnodes\n"			/* multicast: skipped */
"0.0.0.0 ads.example.net\n"			/* blocking: skipped */
"# 10.0.0.1 commented.example\n"
"10.0.0.2 cp.internal # the control plane\n"
"10.0.0.3 bad!name good-name\n"
"not-an-address name\n"
"10.0.0.4\n";

/* The decoder's verdict on a resolver struct, as an imsg would carry it. */
static const char *
decode(const struct wire_resolver *res, size_t len, struct wire_resolver *out)
{
	static char	 reason[256];
	struct imsg	 imsg;
	const char	*why;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = IMSG_NETD_RESOLVER;
	imsg.hdr.len = (uint32_t)len;
	imsg.fd = -1;
	assert_non_null(imsg.data = malloc(len));
	memcpy(imsg.data, res, len);
	why = wire_decode_resolver(&imsg, out);
	if (why != NULL)
		(void)strlcpy(reason, why, sizeof(reason));
	free(imsg.data);
	return why != NULL ? reason : NULL;
}

static void
test_resolv_conf(void **state)
{
	struct wire_resolver	 res, out;

	(void)state;
	memset(&res, 0, sizeof(res));
	assert_int_equal(resolver_parse_resolv_conf(resolv_conf,
	    strlen(resolv_conf), &res), 1);
	assert_int_equal(res.nnameservers, 4);
	assert_string_equal(res.nameservers[0], "192.0.2.1");
	assert_string_equal(res.nameservers[1], "2001:db8::53");
	assert_string_equal(res.nameservers[2], "192.0.2.2");
	assert_string_equal(res.nameservers[3], "192.0.2.3");
	assert_null(decode(&res, sizeof(res), &out));
}

static void
test_hosts(void **state)
{
	struct wire_resolver	 res, out;
	static const char *const want[][2] = {
		{ "localhost", "127.0.0.1" },
		{ "node1.example.com", "127.0.1.1" },
		{ "node1", "127.0.1.1" },
		{ "localhost", "::1" },
		{ "ip6-localhost", "::1" },
		{ "ip6-loopback", "::1" },
		{ "cp.internal", "10.0.0.2" },
		{ "good-name", "10.0.0.3" },
	};
	size_t			 i;

	(void)state;
	memset(&res, 0, sizeof(res));
	assert_int_equal(resolver_parse_hosts(hosts, strlen(hosts), &res), 0);
	assert_int_equal(res.nhosts, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < res.nhosts; i++) {
		assert_string_equal(res.hosts[i].name, want[i][0]);
		assert_string_equal(res.hosts[i].addr, want[i][1]);
	}
	assert_null(decode(&res, sizeof(res), &out));
}

static void
test_hosts_overflow(void **state)
{
	struct wire_resolver	 res, out;
	char			 buf[4096];
	size_t			 off = 0;
	int			 i;

	(void)state;
	for (i = 0; i < 20; i++)
		off += snprintf(buf + off, sizeof(buf) - off,
		    "10.0.0.%d host%d\n", i, i);
	memset(&res, 0, sizeof(res));
	assert_int_equal(resolver_parse_hosts(buf, off, &res), 4);
	assert_int_equal(res.nhosts, WIRE_RESOLVER_HOSTS_MAX);
	assert_string_equal(res.hosts[15].name, "host15");
	assert_null(decode(&res, sizeof(res), &out));
}

static void
test_read_files(void **state)
{
	struct wire_resolver	 res;
	char			 dir[] = "/tmp/berth-resolver.XXXXXX";
	char			 rpath[64], hpath[64];
	FILE			*fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(rpath, sizeof(rpath), "%s/resolv.conf", dir);
	(void)snprintf(hpath, sizeof(hpath), "%s/hosts", dir);
	assert_non_null(fp = fopen(rpath, "w"));
	fputs(resolv_conf, fp);
	fclose(fp);
	assert_non_null(fp = fopen(hpath, "w"));
	fputs(hosts, fp);
	fclose(fp);
	assert_int_equal(resolver_read(rpath, hpath, &res), 0);
	assert_int_equal(res.nnameservers, 4);
	assert_int_equal(res.nhosts, 8);
	/* One file missing: the other still counts. */
	unlink(hpath);
	assert_int_equal(resolver_read(rpath, hpath, &res), 0);
	assert_int_equal(res.nnameservers, 4);
	assert_int_equal(res.nhosts, 0);
	unlink(rpath);
	assert_int_equal(resolver_read(rpath, hpath, &res), -1);
	rmdir(dir);
}

static void
valid(struct wire_resolver *res)
{
	memset(res, 0, sizeof(*res));
	res->nnameservers = 1;
	(void)strlcpy(res->nameservers[0], "192.0.2.1", WIRE_ADDR_LEN);
	res->nhosts = 1;
	(void)strlcpy(res->hosts[0].name, "cp.example", WIRE_HOSTNAME_LEN);
	(void)strlcpy(res->hosts[0].addr, "10.0.0.1", WIRE_ADDR_LEN);
}

static void
test_decoder_refuses(void **state)
{
	struct wire_resolver	 res, out;

	(void)state;
	valid(&res);
	assert_null(decode(&res, sizeof(res), &out));
	assert_int_equal(out.nhosts, 1);
	assert_non_null(strstr(decode(&res, sizeof(res) - 1, &out),
	    "expected"));

	valid(&res);
	res.nnameservers = WIRE_RESOLVER_NS_MAX + 1;
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "outside"));
	valid(&res);
	res.nhosts = WIRE_RESOLVER_HOSTS_MAX + 1;
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "outside"));

	valid(&res);
	memset(res.nameservers[0], '1', WIRE_ADDR_LEN);
	assert_non_null(strstr(decode(&res, sizeof(res), &out),
	    "not terminated"));
	valid(&res);
	(void)strlcpy(res.nameservers[0], "dns.example", WIRE_ADDR_LEN);
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "numeric"));
	valid(&res);
	(void)strlcpy(res.hosts[0].addr, "10.0.0.256", WIRE_ADDR_LEN);
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "numeric"));
	valid(&res);
	(void)strlcpy(res.hosts[0].name, "bad name", WIRE_HOSTNAME_LEN);
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "host name"));
	valid(&res);
	res.hosts[0].name[0] = '\0';
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "host name"));

	/* Nothing may hide past the counts. */
	valid(&res);
	res.nameservers[2][5] = 'x';
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "after"));
	valid(&res);
	res.hosts[WIRE_RESOLVER_HOSTS_MAX - 1].addr[0] = '1';
	assert_non_null(strstr(decode(&res, sizeof(res), &out), "after"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolv_conf),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_hosts_overflow),
		cmocka_unit_test(test_read_files),
		cmocka_unit_test(test_decoder_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
