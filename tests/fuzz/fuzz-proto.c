// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The wire protocol decoder, on the bytes a client or the daemon may
 * send: the input is one message's text, framed and followed by a PING
 * in the same buffer. A message that decodes is encoded again and must
 * decode to the same verb, keys and values.
 */
#include <errno.h>
#include <string.h>

#include "common/proto.h"
#include "fuzz.h"

static void frame_into(struct cc_proto_buf *b, const void *text, uint32_t len)
{
	uint8_t *p = (uint8_t *)b->data + b->len;

	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 24);
	memcpy(p + 4, text, len);
	b->len += 4 + len;
}

static void round_trip(const struct cc_proto_msg *m)
{
	const char *kv[2 * PROTO_FIELDS];
	struct cc_proto_buf b = { .fd = -1 };
	struct cc_proto_msg again;
	uint64_t u;
	int i, v;

	for (i = 0; i < m->nf; i++) {
		kv[2 * i] = m->f[i].key;
		kv[2 * i + 1] = m->f[i].val;
		/* whatever a value holds, reading it as a number is safe */
		proto_get_u64(m, m->f[i].key, &u);
		cc_proto_get_int(m, m->f[i].key, &v);
	}
	/* raw control bytes come back escaped: four times as long */
	if (cc_proto_frame(m->verb, kv, (size_t)m->nf, &b.data, &b.len) < 0)
		return;
	b.cap = b.len;
	fuzz_check(cc_proto_take(&b, &again) == 0);
	fuzz_check(b.len == 0);
	fuzz_check(!strcmp(again.verb, m->verb));
	fuzz_check(again.nf == m->nf);
	for (i = 0; i < m->nf; i++) {
		fuzz_check(!strcmp(again.f[i].key, m->f[i].key));
		fuzz_check(!strcmp(again.f[i].val, m->f[i].val));
		fuzz_check(cc_proto_get(&again, m->f[i].key));
	}
	cc_proto_msg_free(&again);
	cc_proto_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_proto_buf b = { .fd = -1 };
	struct cc_proto_msg m;
	int r;

	if (size > PROTO_MAX)
		return 0;
	b.cap = 2 * 4 + size + 4;
	b.data = malloc(b.cap);
	if (!b.data)
		return 0;
	frame_into(&b, data, (uint32_t)size);
	frame_into(&b, "PING", 4);

	r = cc_proto_take(&b, &m);
	fuzz_check(r == 0 || r == -EPROTO);
	if (r == 0) {
		fuzz_check(m.verb && *m.verb && m.nf <= PROTO_FIELDS);
		round_trip(&m);
		cc_proto_msg_free(&m);
	}
	/* a bad message costs itself only: the next one is intact */
	fuzz_check(cc_proto_take(&b, &m) == 0);
	fuzz_check(!strcmp(m.verb, "PING") && m.nf == 0);
	cc_proto_msg_free(&m);
	fuzz_check(cc_proto_take(&b, &m) == -EAGAIN);
	cc_proto_buf_free(&b);
	return 0;
}
