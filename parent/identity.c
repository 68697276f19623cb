/*
 * identity.c: the node's key pair and enrolment, on disk in the parent's
 * state directory (see identity.h).  The key is made here, before
 * confinement needs no exception for it, and written 0600 before netd
 * may use it, so that a crash at any point resumes with the same key.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64url.h"
#include "identity.h"
#include "log.h"
#include "statefile.h"
#include "wire.h"

#define IDENTITY_KEY_FILE	"node.key"
#define IDENTITY_NODE_FILE	"node.json"
#define IDENTITY_FILE_MAX	8192

static int
identity_key_from_pem(struct identity *id, const char *pem, size_t len)
{
	EVP_PKEY	*pkey = NULL;
	BIO		*bio;
	size_t		 keylen = sizeof(id->private_key);
	int		 rc = -1;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL &&
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) != NULL &&
	    EVP_PKEY_id(pkey) == EVP_PKEY_ED25519 &&
	    EVP_PKEY_get_raw_private_key(pkey, id->private_key,
	    &keylen) == 1 && keylen == sizeof(id->private_key))
		rc = 0;
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}

/* A new key pair, written before anything can use it. */
static int
identity_create_key(struct identity *id)
{
	EVP_PKEY_CTX	*ctx;
	EVP_PKEY	*pkey = NULL;
	BIO		*bio = NULL;
	char		*pem;
	long		 len;
	int		 rc = -1;

	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1 ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0)
		log_warnx("%s: OpenSSL cannot make an Ed25519 key", __func__);
	else if (statefile_write(id->dir, IDENTITY_KEY_FILE, pem,
	    (size_t)len) == 0 && identity_key_from_pem(id, pem,
	    (size_t)len) == 0)
		rc = 0;
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	if (rc == 0)
		log_info("made the node key pair in %s", id->dir);
	return rc;
}

static int
identity_load_key(struct identity *id)
{
	char	 path[BERTH_PATH_LEN + 32], *pem;
	size_t	 len;
	int	 rc;

	(void)snprintf(path, sizeof(path), "%s/%s", id->dir,
	    IDENTITY_KEY_FILE);
	if (statefile_read(path, IDENTITY_FILE_MAX, &pem, &len) == -1) {
		if (errno == ENOENT)
			return identity_create_key(id);
		log_warn("%s", path);
		return -1;
	}
	rc = identity_key_from_pem(id, pem, len);
	explicit_bzero(pem, len);
	free(pem);
	if (rc == -1)
		log_warnx("%s: not an Ed25519 private key", path);
	return rc;
}

static int
identity_parse_node(struct identity *id, json_t *v)
{
	const char	*node, *cred, *key;
	int		 signed_tasks;

	if (json_unpack(v, "{s:s, s:s, s:s, s:b}", "node_id", &node,
	    "credential", &cred, "task_signing_key", &key, "tasks_signed",
	    &signed_tasks) == -1 || !wire_id_valid(node) ||
	    strlcpy(id->node_id, node, sizeof(id->node_id)) >=
	    sizeof(id->node_id) ||
	    strlcpy(id->credential, cred, sizeof(id->credential)) >=
	    sizeof(id->credential) ||
	    base64url_decode(key, id->task_key, sizeof(id->task_key)) == -1)
		return -1;
	id->tasks_signed = signed_tasks;
	id->enrolled = 1;
	return 0;
}

static int
identity_load_node(struct identity *id)
{
	char		 path[BERTH_PATH_LEN + 32], *buf;
	json_t		*v;
	size_t		 len;
	int		 rc = -1;

	(void)snprintf(path, sizeof(path), "%s/%s", id->dir,
	    IDENTITY_NODE_FILE);
	if (statefile_read(path, IDENTITY_FILE_MAX, &buf, &len) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", path);
		return -1;
	}
	if ((v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL)) != NULL)
		rc = identity_parse_node(id, v);
	json_decref(v);
	explicit_bzero(buf, len);
	free(buf);
	if (rc == -1)
		log_warnx("%s: malformed", path);
	return rc;
}

int
identity_load(struct identity *id, const char *state_dir)
{
	memset(id, 0, sizeof(*id));
	if ((size_t)snprintf(id->dir, sizeof(id->dir), "%s/identity",
	    state_dir) >= sizeof(id->dir) || statefile_mkdir(id->dir) == -1)
		return -1;
	if (identity_load_key(id) == -1 || identity_load_node(id) == -1)
		return -1;
	return 0;
}

int
identity_store_enrolment(struct identity *id,
    const struct wire_netd_enrolled *en)
{
	char	 key[BASE64URL_LEN(WIRE_ED25519_LEN) + 1], *json;
	json_t	*v;
	int	 rc;

	/* The latch never opens again (PROTOCOL.md 5.3). */
	base64url_encode(en->task_key, sizeof(en->task_key), key);
	v = json_pack("{s:s, s:s, s:s, s:b}", "node_id", en->node_id,
	    "credential", en->credential, "task_signing_key", key,
	    "tasks_signed", en->tasks_signed || id->tasks_signed);
	if (v == NULL || (json = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode", __func__);
	json_decref(v);
	rc = statefile_write(id->dir, IDENTITY_NODE_FILE, json, strlen(json));
	explicit_bzero(json, strlen(json));
	free(json);
	if (rc == -1)
		return -1;
	(void)strlcpy(id->node_id, en->node_id, sizeof(id->node_id));
	(void)strlcpy(id->credential, en->credential, sizeof(id->credential));
	memcpy(id->task_key, en->task_key, sizeof(id->task_key));
	id->tasks_signed = en->tasks_signed || id->tasks_signed;
	id->enrolled = 1;
	return 0;
}

int
identity_latch_signed(struct identity *id)
{
	struct wire_netd_enrolled	 en;
	int				 rc;

	memset(&en, 0, sizeof(en));
	(void)strlcpy(en.node_id, id->node_id, sizeof(en.node_id));
	(void)strlcpy(en.credential, id->credential, sizeof(en.credential));
	memcpy(en.task_key, id->task_key, sizeof(en.task_key));
	en.tasks_signed = 1;
	rc = identity_store_enrolment(id, &en);
	explicit_bzero(&en, sizeof(en));
	return rc;
}

int
identity_forget_enrolment(struct identity *id)
{
	char	 path[BERTH_PATH_LEN + 32];

	(void)snprintf(path, sizeof(path), "%s/%s", id->dir,
	    IDENTITY_NODE_FILE);
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("unlink %s", path);
		return -1;
	}
	explicit_bzero(id->credential, sizeof(id->credential));
	id->node_id[0] = '\0';
	id->enrolled = 0;
	return statefile_sync_dir(id->dir);
}

int
identity_file_sha256(const char *path, char out[WIRE_HEX_LEN])
{
	EVP_MD_CTX	*ctx;
	unsigned char	 buf[65536], md[32];
	unsigned int	 mdlen = 0, i;
	ssize_t		 n;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
				break;
		if (n == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
		    mdlen == sizeof(md))
			rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	close(fd);
	for (i = 0; rc == 0 && i < sizeof(md); i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
	return rc;
}
