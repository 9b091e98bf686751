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

.PHONY: all check unit integration demo install clean deps fuzz fuzz-build bench torture
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

# -- fuzzing and crash torture (tests/fuzz, tests/torture) -------------------
# `make fuzz`: every tests/fuzz/fuzz_*.c built with clang libFuzzer + ASan +
# UBSan against its own copy of the library, then run FUZZ_SECONDS each from
# its seed corpus (tests/fuzz/corpus/NAME; new inputs go to build-fuzz, the
# seeds stay as committed).  A crash stops with the input in
# build-fuzz/crash/; turn it into a file in tests/fuzz/regress/NAME/, which
# `make fuzz` replays first.
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer -g -O1
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIBOBJ  := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
		$(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libfacteur.a: $(FUZZ_LIBOBJ)
	@rm -f $@
	@$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libfacteur.a
	@echo "  LD      $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libfacteur.a $(LIBS)

.SECONDARY: $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/%.o)

fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for b in $(FUZZ_BINS); do n=$$(basename $$b); \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/crash tests/fuzz/corpus/$$n; \
	  if [ -d tests/fuzz/regress/$$n ] && [ -n "$$(ls tests/fuzz/regress/$$n)" ]; then \
	    echo "== $$n: regressions"; $$b -runs=0 tests/fuzz/regress/$$n/* >/dev/null 2>&1 || \
	    { $$b -runs=0 tests/fuzz/regress/$$n/*; exit 1; }; fi; \
	  echo "== $$n: $(FUZZ_SECONDS) s"; \
	  $$b -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash/$$n- \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n 2>$(FUZZ_BUILD)/$$n.log || \
	    { tail -60 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' $(FUZZ_BUILD)/$$n.log | tr '\n' ' '; echo; \
	done

# `make torture TRIALS=N`: N crash-torture trials (tests/torture/torture.py)
# against a private Dovecot; the CI runs a short variant in
# tests/integration/test_torture.py.
TRIALS ?= 100
TORTURE_SEED ?=
torture: all
	FACTEUR=$(abspath $(BIN)) $(PYTHON) tests/torture/torture.py --trials $(TRIALS) \
		$(if $(TORTURE_SEED),--seed $(TORTURE_SEED))

clean:
	rm -rf build build-san build-fuzz facteur demo

# Benchmarks against mbsync, OfflineIMAP and mpop (tests/bench/): they
# report in tests/bench/RESULTS.md and never fail on a number; never part of
# `make check`.  BENCH_QUICK=1: the small corpus, a few minutes.
# The delivery-only comparison (issue 4) drives the store through its own
# small program, linked like the unit tests.
DELIVER_BENCH := $(BUILD)/bench/deliver_bench
$(DELIVER_BENCH): $(BUILD)/tests/bench/deliver_bench.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

bench: $(BIN) $(DELIVER_BENCH)
	@sh tests/bench/deps.sh
	$(PYTHON) tests/bench/bench.py $(if $(filter 1,$(BENCH_QUICK)),--quick) \
		--facteur $(abspath $(BIN)) --deliver-bench $(abspath $(DELIVER_BENCH)) $(BENCH_ARGS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
