/*
 * identity.h: the node's identity in the native protocol, kept by the
 * parent in <state-dir>/identity/ (mode 0700, files 0600):
 *
 *	node.key	the Ed25519 private key, PEM (PKCS#8), made before the
 *			first enrolment attempt (PROTOCOL.md 3.1)
 *	node.json	{"node_id", "credential", "task_signing_key",
 *			 "tasks_signed"} once a 201 arrived
 *
 * netd gets the key and credential by imsg and keeps them in memory only.
 */
#ifndef BERTH_IDENTITY_H
#define BERTH_IDENTITY_H

#include <stdint.h>

#include "berth.h"

struct identity {
	char		 dir[BERTH_PATH_LEN];
	uint8_t		 private_key[WIRE_ED25519_LEN];
	int		 enrolled;
	char		 node_id[WIRE_ID_LEN];
	char		 credential[WIRE_CREDENTIAL_LEN];
	uint8_t		 task_key[WIRE_ED25519_LEN];
	int		 tasks_signed;		/* the one-way latch */
};

/* Load, making the key pair first if there is none.  0 or -1 (logged). */
int	 identity_load(struct identity *, const char *state_dir);
/* Store an enrolment answer before it is used.  0 or -1 (logged). */
int	 identity_store_enrolment(struct identity *,
	    const struct wire_netd_enrolled *);
/* Set the tasks_signed latch, on disk first.  0 or -1 (logged). */
int	 identity_latch_signed(struct identity *);
/* The control plane forgot us (credential_unknown): enrol again. */
int	 identity_forget_enrolment(struct identity *);
/* SHA-256 of a file as hex, for binary_sha256.  0 or -1. */
int	 identity_file_sha256(const char *path, char out[WIRE_HEX_LEN]);

#endif
