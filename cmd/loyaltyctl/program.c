/*
 * program.c: subcommands about files rather than servers: check (the
 * program file: the whole language, and whether this engine runs it) and
 * config-doc (the settings reference).
 */
#include <stdio.h>

#include "ctl.h"
#include "loyalty/config.h"
#include "loyalty/engine.h"
#include "loyalty/program.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"

/* One line about what a rule does: "earn floor(order.total/100)*1,
 * pending; if; limit 3/day; issue discount 15%; offer welcome (email, sms)". */
static void print_rule(const ly_program_t *p, const ly_rule_t *r)
{
	const char *sep = "";
	printf("    %-24s", r->id);
	if (r->has_earn) {
		if (r->earn_per)
			printf(r->earn_of == LY_OF_ORDER_TOTAL ? " earn floor(%s/%lld)*%lld"
							       : " earn floor((%s)/%lld)*%lld",
			       ly_expr_source(r->earn_of_expr), (long long)r->earn_per,
			       (long long)r->earn_points);
		else
			printf(" earn %lld", (long long)r->earn_points);
		if (r->earn_tier_multiplier)
			printf(" x tier");
		if (ly_rule_is_pending(p, r))
			printf(", pending");
		sep = ";";
	}
	if (r->if_expr) {
		printf("%s if %s", sep, ly_expr_source(r->if_expr));
		sep = ";";
	}
	if (r->has_active_from || r->has_active_until) {
		int y, m, d;
		printf("%s active", sep);
		if (r->has_active_from) {
			ly_civil_from_days(r->active_from_day, &y, &m, &d);
			printf(" from %04d-%02d-%02d", y, m, d);
		}
		if (r->has_active_until) {
			ly_civil_from_days(r->active_until_day, &y, &m, &d);
			printf(" until %04d-%02d-%02d", y, m, d);
		}
		sep = ";";
	}
	if (r->limit_count) {
		printf("%s limit %lld/%s", sep, (long long)r->limit_count,
		       ly_period_name(r->limit_per));
		sep = ";";
	}
	if (r->budget_points) {
		printf("%s budget %lld", sep, (long long)r->budget_points);
		sep = ";";
	}
	if (r->issue.kind == LY_ISSUE_DISCOUNT) {
		if (r->issue.percent)
			printf("%s issue discount %lld%%", sep, (long long)r->issue.percent);
		else
			printf("%s issue discount %lld", sep, (long long)r->issue.amount);
		sep = ";";
	} else if (r->issue.kind == LY_ISSUE_GIFT_CARD) {
		printf("%s issue gift card %lld", sep, (long long)r->issue.amount);
		sep = ";";
	}
	if (r->offer.template_id) {
		printf("%s offer %s (", sep, r->offer.template_id);
		for (size_t i = 0; i < r->offer.channels_len; i++)
			printf("%s%s", i ? ", " : "",
			       r->offer.channel_order[i] == LY_CHANNEL_EMAIL ? "email" : "sms");
		printf(")");
		sep = ";";
	}
	if (r->stop)
		printf("%s stop", sep);
	printf("\n");
}

static void print_rules_on(const ly_program_t *p, int t, ly_trigger_t trigger)
{
	size_t n = 0;
	for (size_t i = 0; i < p->rules_len; i++)
		n += (int)p->rules[i].on == t && p->rules[i].trigger == trigger;
	if (n == 0)
		return;
	printf("  on %s: %zu\n",
	       trigger ? ly_trigger_name(trigger) : ly_event_type_name((ly_event_type_t)t), n);
	for (size_t i = 0; i < p->rules_len; i++)
		if ((int)p->rules[i].on == t && p->rules[i].trigger == trigger)
			print_rule(p, &p->rules[i]);
}

/*
 * check: loads PROGRAM with the whole language of SPEC section 5 (the
 * language check) and summarises it; the last line says whether this
 * version of the engine runs it as written. Exit 0 when the file loads.
 */
int ctl_check(ctl_t *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc != 2)
		return ctl_usage_error("check: PROGRAM is required");
	char errstr[1024];
	ly_program_t *p;
	if (ly_program_load(&p, argv[1], errstr, sizeof(errstr))) {
		fprintf(stderr, "%s\n", errstr);
		return 1;
	}
	printf("%s: ok\n", argv[1]);
	printf("program   %s (%s, %s, %s)\n", p->name, p->currency, p->timezone, p->locale);
	printf("version   %s\n", p->version);
	printf("points    pending_days=%lld expire_days=%lld expiry_reminder_days=%lld\n",
	       (long long)p->pending_days, (long long)p->expire_days,
	       (long long)p->expiry_reminder_days);
	if (p->tiers_len) {
		printf("tiers     %zu over %lld days:", p->tiers_len,
		       (long long)p->tier_window_days);
		for (size_t i = 0; i < p->tiers_len; i++) {
			const ly_tier_t *t = &p->tiers[i];
			printf(" %s>=%lld x%lld.%04lld", t->name, (long long)t->min_spend,
			       (long long)(t->earn_multiplier_bp / LY_MULTIPLIER_ONE),
			       (long long)(t->earn_multiplier_bp % LY_MULTIPLIER_ONE));
		}
		printf("\n");
	} else {
		printf("tiers     none\n");
	}
	printf("lifecycle at_risk_days=%lld lost_days=%lld expected_lifetime_years=%lld\n",
	       (long long)p->at_risk_days, (long long)p->lost_days,
	       (long long)p->expected_lifetime_years);
	if (p->offer_cap_count)
		printf("offers    at most %lld per %s\n", (long long)p->offer_cap_count,
		       ly_period_name(p->offer_cap_per));
	if (p->quiet_sms.set)
		printf("quiet     sms %02d:%02d-%02d:%02d\n", p->quiet_sms.start_min / 60,
		       p->quiet_sms.start_min % 60, p->quiet_sms.end_min / 60,
		       p->quiet_sms.end_min % 60);
	if (p->quiet_email.set)
		printf("quiet     email %02d:%02d-%02d:%02d\n", p->quiet_email.start_min / 60,
		       p->quiet_email.start_min % 60, p->quiet_email.end_min / 60,
		       p->quiet_email.end_min % 60);
	printf("rewards   %zu\n", p->rewards_len);
	for (size_t i = 0; i < p->rewards_len; i++) {
		const ly_reward_t *r = &p->rewards[i];
		printf("    %-24s cost %lld: %s", r->id, (long long)r->cost,
		       r->issue.kind == LY_ISSUE_GIFT_CARD ? "gift card" : "discount");
		if (r->issue.percent)
			printf(" %lld%%", (long long)r->issue.percent);
		else
			printf(" %lld", (long long)r->issue.amount);
		printf(", valid %lld days\n", (long long)r->issue.valid_days);
	}
	printf("rules     %zu\n", p->rules_len);
	for (int t = 0; t < LY_EV__COUNT; t++)
		print_rules_on(p, t, LY_TRIGGER_NONE);
	for (int g = LY_TRIGGER_NONE + 1; g < LY_TRIGGER__COUNT; g++)
		print_rules_on(p, LY_EV__COUNT, (ly_trigger_t)g);
	ly_program_destroy(p);
	return 0;
}

int ctl_config_doc(ctl_t *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("config-doc takes no arguments");
	ly_buf_t b = {0};
	if (ly_config_write_reference(&b)) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		ly_buf_free(&b);
		return 1;
	}
	fputs(b.data ? b.data : "", stdout);
	ly_buf_free(&b);
	return 0;
}
