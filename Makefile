# facteur — plain GNU Makefile.  `make`, `make check`, `make demo`, `make install`,
# `make clean`; SANITIZE=1 builds everything (tests included) with ASan+UBSan
# into a separate tree so the two builds never mix objects.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=
CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wvla -Wundef -Wwrite-strings \
        -Wcast-qual -Wnull-dereference -Wimplicit-fallthrough
CFLAGS   ?= -O2 -g
CPPFLAGS += -I. -D_GNU_SOURCE
DEPFLAGS  = -MMD -MP

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags openssl zlib 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs openssl zlib 2>/dev/null || echo -lssl -lcrypto -lz)
# Debian's LMDB ships no .pc file.
LMDB_LIBS  := $(shell $(PKG_CONFIG) --libs lmdb 2>/dev/null || echo -llmdb)
LIBS       := $(PKG_LIBS) $(LMDB_LIBS) -lresolv

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
BIN     := $(BUILD)/facteur
else
BUILD   ?= build
SANFLAGS :=
BIN     := facteur
endif

ALL_CFLAGS  = -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

MAIN_SRC := sync/main.c
LIB_SRC  := $(filter-out $(MAIN_SRC),$(sort $(wildcard sync/*.c proto/*.c store/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libfacteur.a

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Helpers shared by unit tests (fake servers, temp dirs) live beside them.
UNIT_HELP := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HOBJ := $(UNIT_HELP:%.c=$(BUILD)/%.o)

.PHONY: all check unit integration demo install clean deps fuzz bench torture
all: $(BIN)

$(BIN): $(MAIN_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $(MAIN_OBJ) $(LIB) $(LIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_HOBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $< $(UNIT_HOBJ) $(LIB) $(LIBS) -lcmocka

deps:
	@sh contrib/deps.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BIN)
	FACTEUR=$(abspath $(BIN)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

demo: deps
	@$(MAKE) --no-print-directory all
	@sh contrib/demo.sh $(abspath $(BIN))

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/facteur
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 644 contrib/man/facteur.1 $(DESTDIR)$(MANDIR)/man1/facteur.1
	install -m 644 contrib/man/facteur.conf.5 $(DESTDIR)$(MANDIR)/man5/facteur.conf.5

clean:
	rm -rf build build-san facteur demo

# Benchmarks against mbsync, OfflineIMAP and mpop (tests/bench/): they
# report in tests/bench/RESULTS.md and never fail on a number; never part of
# `make check`.  BENCH_QUICK=1: the small corpus, a few minutes.
bench: $(BIN)
	@sh tests/bench/deps.sh
	$(PYTHON) tests/bench/bench.py $(if $(filter 1,$(BENCH_QUICK)),--quick) \
		--facteur $(abspath $(BIN)) $(BENCH_ARGS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
