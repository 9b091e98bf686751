/* A main() for replaying fuzz inputs without libFuzzer: links with one
 * fuzz_*.c target and the ordinary (or SANITIZE=1) library, and runs the
 * target once on each file named on the command line.  The integration
 * suite uses it to replay tests/fuzz/regress/ in every `make check`, so a
 * crash once found stays fixed even where clang is not used. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		unsigned char *buf;
		long n;

		if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
			perror(argv[i]);
			return 2;
		}
		buf = malloc((size_t)n + 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			perror(argv[i]);
			return 2;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)n);
		free(buf);
		printf("ok %s\n", argv[i]);
	}
	return 0;
}
