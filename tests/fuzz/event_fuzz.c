/*
 * event_fuzz.c: fuzz target for the CloudEvents decoder. Any input must be
 * decoded or rejected with a reason, never crash, leak or read out of
 * bounds, by ly_event_decode (structured and binary mode) and by
 * ly_event_decode_trigger, which also takes the triggers and must agree
 * with ly_event_decode on every input type. Built for libFuzzer with
 * -DLY_FUZZ=ON (clang); otherwise linked with replay.c, which runs the
 * checked-in corpus as an ordinary test.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loyalty/event.h"
#include "loyalty/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ly_arena_t *arena;
	if (!arena)
		arena = ly_arena_new(1 << 16);
	LY_ASSERT(arena);
	ly_event_t ev;
	ly_reject_t why = LY_REJECT_NONE;
	char errstr[512];
	int rc = ly_event_decode(&ev, &why, errstr, sizeof(errstr), data, size, NULL, 0,
				 arena);
	if (rc == 0) {
		LY_ASSERT(why == LY_REJECT_NONE);
		LY_ASSERT(ev.id && ev.source && ev.customer_id);
		LY_ASSERT(strlen(ev.id) <= LY_EVENT_ID_MAX_BYTES);
		LY_ASSERT(ly_event_type_name(ev.type) != NULL);
		LY_ASSERT(ev.trigger == LY_TRIGGER_NONE);
	} else if (rc == LY_EINVAL) {
		LY_ASSERT(why != LY_REJECT_NONE && errstr[0]);
		LY_ASSERT(strcmp(ly_reject_code(why), "unknown") != 0);
	}
	const int input_rc = rc;
	const ly_event_t input = ev;

	/* The same bytes as a trigger, as `loyaltyctl explain` and `test`
	 * read them: every input event decodes the same, and a trigger
	 * carries the data its type needs. */
	rc = ly_event_decode_trigger(&ev, &why, errstr, sizeof(errstr), data, size,
				     arena);
	LY_ASSERT(rc == 0 || rc == LY_EINVAL || rc == LY_ENOMEM);
	if (input_rc == 0 && rc != LY_ENOMEM) {
		LY_ASSERT(rc == 0 && ev.type == input.type && ev.trigger == LY_TRIGGER_NONE);
		LY_ASSERT(ev.time_us == input.time_us && strcmp(ev.id, input.id) == 0 &&
			  strcmp(ev.customer_id, input.customer_id) == 0);
	}
	if (rc == 0) {
		LY_ASSERT(why == LY_REJECT_NONE);
		LY_ASSERT(ev.id && ev.source && ev.customer_id);
		LY_ASSERT(strlen(ev.id) <= LY_EVENT_ID_MAX_BYTES);
		LY_ASSERT(ly_event_name(&ev) != NULL);
		LY_ASSERT((ev.type == LY_EV__COUNT) == (ev.trigger != LY_TRIGGER_NONE));
		switch (ev.trigger) {
		case LY_TRIGGER_SEGMENT_CHANGED:
		case LY_TRIGGER_TIER_CHANGED:
			LY_ASSERT(ev.u.change.from && ev.u.change.to);
			break;
		case LY_TRIGGER_REFERRAL_QUALIFIED:
			LY_ASSERT(ev.u.referral.referred &&
				  strlen(ev.u.referral.referred) <= LY_EVENT_ID_MAX_BYTES);
			break;
		case LY_TRIGGER_POINTS_EXPIRING:
			LY_ASSERT(ev.u.expiring.points >= 1);
			break;
		default:
			break;
		}
	} else if (rc == LY_EINVAL) {
		LY_ASSERT(why != LY_REJECT_NONE && errstr[0]);
		LY_ASSERT(strcmp(ly_reject_code(why), "unknown") != 0);
		LY_ASSERT(input_rc != 0);
	}
	/* Binary mode: the same bytes as the data, with fixed ce_ headers. */
	static const ly_header_t headers[] = {
		{"ce_specversion", "1.0", 3},      {"ce_id", "fuzz-1", 6},
		{"ce_source", "urn:fuzz", 8},      {"ce_type", "order.paid", 10},
		{"ce_time", "2026-11-22T10:00:00Z", 20},
	};
	rc = ly_event_decode(&ev, &why, errstr, sizeof(errstr), data, size, headers,
			     LY_ARRAY_LEN(headers), arena);
	LY_ASSERT(rc == 0 || rc == LY_EINVAL || rc == LY_ENOMEM);
	ly_arena_reset(arena);
	return 0;
}
