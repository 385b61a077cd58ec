/*
 * test.c: `loyaltyctl test PROGRAM CASES.yaml`: a shop's own tests of its
 * program, for its CI (lib/cases). No server: the cases run through the
 * engine in memory. Exit 0 when every case passes, 1 when one fails or a
 * file is refused, 2 on a usage error.
 */
#include <stdio.h>

#include "ctl.h"
#include "loyalty/cases.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

int ctl_test(ctl_t *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
		return ctl_usage_error("test: PROGRAM and CASES.yaml are required");
	char errstr[1024];
	ly_program_t *p = NULL;
	if (ly_program_load(&p, argv[1], errstr, sizeof(errstr))) {
		fprintf(stderr, "%s\n", errstr);
		return 1;
	}
	ly_buf_t report = {0};
	size_t passed = 0, failed = 0;
	int rc = ly_cases_run(p, argv[2], &report, &passed, &failed, errstr,
			      sizeof(errstr));
	fputs(report.data ? report.data : "", stdout);
	if (rc)
		fprintf(stderr, "%s\n", errstr);
	ly_buf_free(&report);
	ly_program_destroy(p);
	return rc || failed ? 1 : 0;
}
