/*
 * fuzz_audit.c: audit_verify_fd over arbitrary bytes, as a tampered log
 * would present them to berthctl audit verify.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "audit.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify	 result;
	int			 fd;

	if ((fd = memfd_create("audit", MFD_CLOEXEC)) == -1)
		return 0;
	if (write(fd, data, size) == (ssize_t)size &&
	    lseek(fd, 0, SEEK_SET) == 0)
		(void)audit_verify_fd(fd, &result);
	close(fd);
	return 0;
}
