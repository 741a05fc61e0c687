# Makefile: builds, tests, benchmarks, installs and demos carom. It must never need more
# than `make deps` has installed, and never hide a warning (-Werror everywhere).

PREFIX   ?= /usr/local
DESTDIR  ?=
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BINDIR   ?= $(PREFIX)/bin
# Where `carom run` looks for the shim after the places beside its own binary; the Debian
# package sets it to /usr/lib/<multiarch>/carom (debian/rules).
LIBDIR   ?= $(PREFIX)/lib/carom
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/carom
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The one place the version lives is debian/changelog; `carom --version` prints it.
VERSION  := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
BUILD    ?= build
CC       ?= cc
FUZZ_SECONDS ?= 30

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT      ?= -O2 -g
CFLAGS   ?=
CPPFLAGS += -D_GNU_SOURCE
BASEFLAGS := -std=c11 $(WARN) $(OPT) -fPIC -pthread $(CFLAGS)

comma := ,
# SANITIZER=address | undefined | thread | address,undefined
ifneq ($(SANITIZER),)
  SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
  ifneq ($(findstring undefined,$(SANITIZER)),)
    SANFLAGS += -fno-sanitize-recover=undefined
  endif
  BUILD := build-$(subst $(comma),-,$(SANITIZER))
endif

CORE_SRC   := $(wildcard core/*.c)
POLICY_SRC := $(wildcard policy/*.c)
SHIM_SRC   := $(wildcard shim/*.c)
TOOLS_SRC  := $(wildcard tools/*.c)
UNIT_SRC   := $(wildcard tests/test_*.c)
TPROG_SRC  := $(wildcard tests/prog/*.c)
# The hostile test program is one program in several files, one per family of subcommands.
HOSTILE_SRC := $(wildcard tests/prog/hostile/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
POLICY_OBJ := $(POLICY_SRC:%.c=$(BUILD)/%.o)
SHIM_OBJ   := $(SHIM_SRC:%.c=$(BUILD)/%.o)
TOOLS_OBJ  := $(TOOLS_SRC:%.c=$(BUILD)/%.o)

SHIM       := $(BUILD)/libcarom_shim.so
CAROM      := $(BUILD)/carom
UNIT       := $(BUILD)/tests/unit
TPROGS     := $(TPROG_SRC:tests/prog/%.c=$(BUILD)/tests/prog/%) $(BUILD)/tests/prog/cprog_fortify \
  $(BUILD)/tests/prog/hostile
BENCHES    := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
BPROGS     := $(patsubst bench/prog/%.c,$(BUILD)/bench-prog/%,$(wildcard bench/prog/*.c))

.PHONY: all test unit e2e bench deps install uninstall clean demo fuzz format format-check check-layers deb FORCE
.DELETE_ON_ERROR:

all: $(SHIM) $(CAROM)

# Goals that install packages first: everything they build waits for `make deps` to finish
# (also under -j), so no header or library is looked for before it is there.
ifneq ($(filter deps demo test bench fuzz deb,$(MAKECMDGOALS)),)
$(CORE_OBJ) $(POLICY_OBJ) $(SHIM_OBJ) $(TOOLS_OBJ) $(SHIM) $(CAROM) $(UNIT) $(TPROGS) \
  $(BENCHES) $(BPROGS): | deps
endif

# What is compiled into the carom command; rewritten only when it changes, so a build for
# another PREFIX or LIBDIR rebuilds the tools and nothing else.
TOOLS_DEFS := -DCAROM_VERSION='"$(VERSION)"' -DCAROM_LIBDIR='"$(LIBDIR)"' \
  -DCAROM_MULTIARCH='"$(MULTIARCH)"'
$(BUILD)/tools.defs: FORCE
	@mkdir -p $(@D)
	@echo "$(VERSION) $(LIBDIR) $(MULTIARCH)" | cmp -s - $@ || \
	  echo "$(VERSION) $(LIBDIR) $(MULTIARCH)" >$@

# The shim is linked with link-time optimisation: connect's fast path runs through shim/,
# policy/ and core/ (the cushion's ticket, the budget, the shot's outcome), and calls
# between files were much of its cost (docs/performance.md). Fat objects: the tools, the
# unit tests and the benchmarks link the same core and policy objects the ordinary way.
# GCC's spelling (one job, one partition: `make -j1` stays one process); another
# compiler may set its own, or SHIM_LTO= builds without.
SHIM_LTO ?= -flto=1 -flto-partition=one -ffat-lto-objects

# core and policy are ordinary objects; the shim hides everything but its wrappers.
$(BUILD)/core/%.o: core/%.c core/carom_core.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(SANFLAGS) $(SHIM_LTO) -c $< -o $@

$(BUILD)/policy/%.o: policy/%.c $(wildcard policy/*.h) core/carom_core.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(SANFLAGS) $(SHIM_LTO) -c $< -o $@

$(BUILD)/shim/%.o: shim/%.c $(wildcard shim/*.h) policy/carom_policy.h core/carom_core.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DCURL_DISABLE_TYPECHECK $(BASEFLAGS) $(SANFLAGS) -fvisibility=hidden \
	  -ftls-model=initial-exec $(SHIM_LTO) -c $< -o $@

$(BUILD)/tools/%.o: tools/%.c $(wildcard tools/*.h) policy/carom_policy.h core/carom_core.h \
  $(BUILD)/tools.defs
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(TOOLS_DEFS) $(BASEFLAGS) $(SANFLAGS) -c $< -o $@

# The shim's version script makes every symbol but the wrapped calls local, so no
# library the host program carries (its own ini parser, say) can replace ours or be
# replaced by it. libcurl is never linked: its symbols are looked up at run time. No
# -z now: binding the shim's ~80 libc imports at load cost every process 50,000
# instructions, most of its start-up; lazily, a process pays only for what it calls
# (docs/performance.md).
$(SHIM): $(SHIM_OBJ) $(CORE_OBJ) $(POLICY_OBJ) shim/carom_shim.map
	$(CC) -shared -Wl,-soname,libcarom_shim.so -Wl,--version-script=shim/carom_shim.map \
	  -Wl,-z,lazy $(if $(SANITIZER),,-Wl,--no-undefined) $(SANFLAGS) -pthread $(LDFLAGS) \
	  $(BASEFLAGS) -fvisibility=hidden -ftls-model=initial-exec $(SHIM_LTO) \
	  -o $@ $(SHIM_OBJ) $(POLICY_OBJ) $(CORE_OBJ) -ldl -lrt

# hiredis is for `carom fleet` alone: the command links it, the shim never does
# (docs/fleet.md; tests/e2e/fleet_shim.sh checks).
$(CAROM): $(TOOLS_OBJ) $(POLICY_OBJ) $(CORE_OBJ)
	$(CC) $(SANFLAGS) -pthread $(LDFLAGS) -o $@ $^ -lhiredis -lrt -lm

# ---- tests ------------------------------------------------------------------------------
# Criterion cannot start under ThreadSanitizer (Snaipe/Criterion#274): TSan builds run the
# same test files through a small stand-in runner in tests/tsan/.
ifneq ($(findstring thread,$(SANITIZER)),)
  UNIT_RUNNER := -Itests/tsan tests/tsan/main.c
else
  UNIT_RUNNER := -lcriterion
endif
$(UNIT): $(UNIT_SRC) $(POLICY_OBJ) $(CORE_OBJ) $(wildcard tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes $(SANFLAGS) -o $@ $(UNIT_SRC) \
	  $(POLICY_OBJ) $(CORE_OBJ) $(UNIT_RUNNER) -lm

$(BUILD)/tests/prog/%: tests/prog/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes -o $@ $< -lcurl -lpthread

$(BUILD)/tests/prog/hostile: $(HOSTILE_SRC) tests/prog/hostile/hostile.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes -o $@ $(HOSTILE_SRC) -lcurl -lpthread

# The same C test program built the way distributions build: _FORTIFY_SOURCE=2, so it
# calls __read_chk, __recv_chk and friends.
$(BUILD)/tests/prog/cprog_fortify: tests/prog/cprog.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes -O2 -D_FORTIFY_SOURCE=2 -o $@ $< -lcurl -lpthread

test: deps all $(UNIT) $(TPROGS)
	@BUILD=$(BUILD) SANITIZER=$(SANITIZER) CC=$(CC) tests/run.sh

unit: $(UNIT)
	$(UNIT)

e2e: all $(TPROGS)
	@BUILD=$(BUILD) SANITIZER=$(SANITIZER) tests/run.sh --e2e-only

# ---- benchmarks -------------------------------------------------------------------------
$(BUILD)/bench/%: bench/%.c $(POLICY_OBJ) $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes $(SANFLAGS) -o $@ $< $(POLICY_OBJ) $(CORE_OBJ) -lrt -lm

# The scoreboard emitter is timed as the shim runs it: its own object files (the emitter
# and the vfork check it makes), linked in.
BENCH_EVENTS_OBJ := $(BUILD)/shim/events.o $(BUILD)/shim/proc.o
$(BUILD)/bench/bench_events: bench/bench_events.c $(BENCH_EVENTS_OBJ) $(POLICY_OBJ) $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes $(SANFLAGS) -o $@ $< $(BENCH_EVENTS_OBJ) $(POLICY_OBJ) $(CORE_OBJ) -lrt -lm

# Programs the shim benchmarks run under valgrind; plain C, not linked with carom.
$(BUILD)/bench-prog/%: bench/prog/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Wno-missing-prototypes -o $@ $<

# bench/run.sh runs every figure and writes bench/RESULTS.md (under 10 minutes on 2 cores).
# BENCH_QUICK=1: every benchmark built and run briefly, its figures printed, not judged
# and not written (under 2 minutes; CI runs it, so a benchmark that stops building or
# running fails there). The other preload libraries of the start-up comparison
# (libsocket-wrapper, libfaketime, proxychains4) come from DEB_PKGS.
BENCH_QUICK ?=
bench: deps all $(BENCHES) $(BPROGS)
	@BUILD=$(BUILD) BENCH_QUICK=$(BENCH_QUICK) bench/run.sh

# ---- fuzzing (clang + libFuzzer) ----------------------------------------------------------
FUZZ_BUILD := build-fuzz
fuzz: deps
	@mkdir -p $(FUZZ_BUILD)
	@set -e; for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  extra=; [ $$n = fuzz_fleet_msg ] && extra=tools/fleet_msg.c; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -o $(FUZZ_BUILD)/$$n $$f $$extra $(POLICY_SRC) $(CORE_SRC) -lm; \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
	  echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
	  if ! $(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/$$n- $(FUZZ_BUILD)/corpus-$$n tests/fuzz/corpus/$$n \
	    >$(FUZZ_BUILD)/$$n.log 2>&1; then \
	    tail -n 40 $(FUZZ_BUILD)/$$n.log; echo "fuzz $$n: FAILED (see $(FUZZ_BUILD)/$$n.log)"; exit 1; \
	  fi; \
	  grep -E 'stat::number_of_executed_units|stat::new_units_added' $(FUZZ_BUILD)/$$n.log; \
	done

# ---- set-up ------------------------------------------------------------------------------
# Installs only what is missing, so a second run costs a dpkg query and nothing else.
DEB_PKGS := build-essential libcriterion-dev libcurl4-openssl-dev pkg-config \
  curl wget netcat-openbsd redis-tools python3 python3-prometheus-client strace valgrind \
  clang clang-format libclang-rt-14-dev haproxy git procps iproute2 util-linux \
  debhelper dpkg-dev fakeroot lintian man-db prometheus \
  libsocket-wrapper libfaketime proxychains4 libhiredis-dev redis-server
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: deps all $(TPROGS)
	@BUILD=$(BUILD) tools/demo.sh

# The layout the Debian package uses too (debian/rules sets PREFIX=/usr and LIBDIR).
DOCS := README.md SECURITY.md docs/configuration.md docs/curl.md docs/chaos.md \
  docs/scoreboard.md docs/systemd.md docs/fleet.md
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(CAROM) $(DESTDIR)$(BINDIR)/carom
	install -m 0644 $(SHIM) $(DESTDIR)$(LIBDIR)/libcarom_shim.so
	install -m 0644 man/carom.1 $(DESTDIR)$(MANDIR)/man1/carom.1
	install -m 0644 man/carom.ini.5 $(DESTDIR)$(MANDIR)/man5/carom.ini.5
	install -m 0644 $(wildcard $(DOCS)) $(DESTDIR)$(DOCDIR)/
	install -m 0644 carom.ini $(DESTDIR)$(DOCDIR)/examples/carom.ini
	install -m 0644 tools/carom.bash $(DESTDIR)$(BASHCOMPDIR)/carom

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/carom $(DESTDIR)$(LIBDIR)/libcarom_shim.so \
	  $(DESTDIR)$(MANDIR)/man1/carom.1 $(DESTDIR)$(MANDIR)/man5/carom.ini.5 \
	  $(DESTDIR)$(BASHCOMPDIR)/carom
	-rmdir $(DESTDIR)$(LIBDIR) 2>/dev/null
	rm -rf $(DESTDIR)$(DOCDIR)

# The Debian package, built from a copy of the tree (uncommitted edits included) so that
# neither the tree nor its parent directory collects build products: $(BUILD)/deb/*.deb.
DEB_DIR := $(BUILD)/deb
deb: deps
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/carom-$(VERSION)
	tar -cf - --exclude=./.git --exclude='./build*' --exclude=./debian/carom \
	  --exclude=./debian/.debhelper . | tar -xf - -C $(DEB_DIR)/carom-$(VERSION)
	cd $(DEB_DIR)/carom-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(DEB_DIR)/carom_$(VERSION)_*.deb
	@ls $(DEB_DIR)/*.deb

format:
	clang-format -i core/*.[ch] policy/*.[ch] shim/*.[ch] tools/*.[ch] tests/*.c tests/prog/*.c \
	  tests/prog/hostile/*.[ch] bench/*.c

# The format check CI runs: every source in core/, policy/, shim/ and tools/ must already be
# what clang-format (the repository's .clang-format) would write.
FORMAT_SRC := $(wildcard core/*.[ch] policy/*.[ch] shim/*.[ch] tools/*.[ch])
format-check:
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files clean"

# The layer rules (HACKING.md): core/ is the pure engine, so no I/O or interposition header
# may creep in; only shim/ interposes; tools/ uses the public headers only; policy/ does no
# file I/O (callers pass the bytes in: the shim's own trusted reader, tools/policy_file.c).
check-layers:
	@! grep -nE '#include *<(sys/socket.h|dlfcn.h|netdb.h|ini.h|stdio.h|curl/|fcntl.h|unistd.h|stdlib.h)' core/*.[ch] || \
	  { echo "core/ must stay pure"; exit 1; }
	@! grep -nE 'dlsym|RTLD_NEXT|#include *"\.\./shim/' core/*.[ch] policy/*.[ch] policy/*.def || \
	  { echo "only shim/ interposes"; exit 1; }
	@! grep -nE '#include *"(\.\./shim/|\.\./policy/policy_int\.h|policy_int\.h|\.\./policy/keys\.def)' tools/*.[ch] || \
	  { echo "tools/ uses the public headers only (core/carom_core.h, policy/carom_policy.h)"; exit 1; }
	@! grep -nE '(^|[^A-Za-z0-9_.>])(open|openat|read|pread|close|fopen|fdopen|fread|fgets|fclose|access|stat|fstat|lstat)[[:space:]]*\(' \
	  policy/*.c || \
	  { echo "policy/ does no file I/O: the caller passes the bytes in"; exit 1; }
	@! grep -nE '#include *<(fcntl\.h|unistd\.h|sys/stat\.h)>' policy/*.[ch] || \
	  { echo "policy/ does no file I/O: no fcntl.h, unistd.h or sys/stat.h"; exit 1; }
	@echo "check-layers: ok"

clean:
	rm -rf build build-* $(FUZZ_BUILD)
