/*
 * program_fuzz.c: fuzz target for the program loader. Any input must load
 * or be refused with "name:line:col: message", never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loyalty/program.h"
#include "loyalty/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ly_program_t *p = NULL;
	char errstr[1024];
	int rc = ly_program_load_buf(&p, "fuzz.yaml", (const char *)data, size, errstr,
				     sizeof(errstr));
	if (rc == 0) {
		LY_ASSERT(p && p->rules_len > 0 && strlen(p->version) == 16);
		ly_program_destroy(p);
	} else {
		LY_ASSERT(p == NULL);
		LY_ASSERT(strncmp(errstr, "fuzz.yaml:", 10) == 0);
	}
	return 0;
}
