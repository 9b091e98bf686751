/* Placeholder command line; replaced by the config/CLI work. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
		puts("facteur 0.1");
		return 0;
	}
	fputs("facteur: nothing to do\n", stderr);
	return 1;
}
