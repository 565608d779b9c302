# libaopen build. `make` builds the library; `make test` runs every test; `make demo` runs
# the heartbeat demonstration. See README.md.

CARGO    ?= cargo
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror
LIBDIR_B := target/release
LIB      := $(LIBDIR_B)/libaopen.so
BUILD    := build
SHIM     := $(BUILD)/slow_open.so
LINK     := -L$(LIBDIR_B) -laopen -Wl,-rpath,$(abspath $(LIBDIR_B)) -lpthread
TEST_TIMEOUT ?= 120

# Installation (make install PREFIX=/usr DESTDIR=/tmp/stage).
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR      := $(firstword $(subst ., ,$(VERSION)))

C_TESTS  := $(sort $(basename $(notdir $(filter-out c-tests/helpers.c,$(wildcard c-tests/*.c)))))
TEST_BINS := $(addprefix $(BUILD)/tests/,$(C_TESTS))
RUST_SRC := $(wildcard src/*.rs) Cargo.toml

HOST     := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
NIGHTLY  := $(shell rustup run nightly rustc --version >/dev/null 2>&1 && echo yes)
# --child-silent-after-fork: a forked child of a threaded process cannot reach the parent's
# threads' memory (fork.c's child leaks the inherited context by design).
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --child-silent-after-fork=yes

.PHONY: check-valgrind check-asan check-tsan check-loom soak bench
.PHONY: all lib header check-header check-symbols install uninstall lint test test-rust test-c \
	test-demo test-install test-examples test-python demo clean
.DELETE_ON_ERROR:

all: lib include/aopen.h

lib: $(LIB)

# Programs linked here record the soname, so the build tree carries it as an install would.
$(LIB): $(RUST_SRC) build.rs
	$(CARGO) build --release
	@touch $@
	@ln -sf libaopen.so $(LIBDIR_B)/libaopen.so.$(MAJOR)

# The header is committed; regenerate it after changing src/ffi.rs.
header:
	cbindgen --config cbindgen.toml --crate aopen --quiet --output include/aopen.h

# Fails when the committed header differs from what the source generates.
check-header:
	@command -v cbindgen >/dev/null || { echo "check-header: cbindgen not found (cargo install cbindgen)"; exit 1; }
	@mkdir -p $(BUILD)
	cbindgen --config cbindgen.toml --crate aopen --quiet --output $(BUILD)/aopen.h
	@diff -u include/aopen.h $(BUILD)/aopen.h || { echo "include/aopen.h is stale: run 'make header' and commit it"; exit 1; }
	@echo "check-header: include/aopen.h is up to date"

# The exported symbols must be exactly the public API listed in aopen.symbols.
check-symbols: $(LIB)
	@nm -D --defined-only $(LIB) | awk '{print $$3}' | sort | diff -u aopen.symbols - \
	  || { echo "exported symbols differ from aopen.symbols"; exit 1; }
	@echo "check-symbols: $$(wc -l < aopen.symbols) exported symbols, as listed"

# The whole C suite under valgrind memcheck: any error or definite leak fails the test.
check-valgrind: $(TEST_BINS) $(SHIM)
	AOPEN_UNDER_VALGRIND=1 SOAK_REQUESTS=4000 MISUSE_STEPS=10000 TEST_WRAPPER="$(VALGRIND)" TEST_TIMEOUT=300 c-tests/run.sh $(abspath $(SHIM)) $(TEST_BINS)

# loom model checks of the completion queue (tests/loom.rs): cancel, timeout and free
# racing completion, and delivery racing the readiness signal.
check-loom:
	RUSTFLAGS="--cfg loom" $(CARGO) test --release --test loom --target-dir target/loom

# The long soak: a million requests (make test runs the same program with 20000).
soak: $(BUILD)/tests/soak $(SHIM)
	SOAK_REQUESTS=$${SOAK_REQUESTS:-1000000} VERBOSE=1 TEST_TIMEOUT=3600 c-tests/run.sh $(abspath $(SHIM)) $<

# AddressSanitizer (nightly only): the Rust tests, then the C suite against an instrumented
# library (gcc's libasan provides the runtime; the shim is preloaded beside it).
check-asan:
ifeq ($(NIGHTLY),)
	@echo "SKIP check-asan: no nightly toolchain (AddressSanitizer for Rust needs -Zsanitizer)"
else
	RUSTFLAGS=-Zsanitizer=address $(CARGO) +nightly test --release --lib --tests \
	  --target $(HOST) --target-dir target/asan
	env RUSTFLAGS=-Zsanitizer=address CARGO_BUILD_TARGET=$(HOST) CARGO_TARGET_DIR=target/asan \
	  ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1 \
	  $(MAKE) test-c CARGO="$(CARGO) +nightly" BUILD=build/asan LIBDIR_B=target/asan/$(HOST)/release \
	  CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer"
endif

# ThreadSanitizer (nightly only) over the Rust unit and race tests, which drive the same pool
# and context from many threads. std is not instrumented here (no rust-src for
# -Zbuild-std), so .ci/tsan.supp silences races inside std's own sources only.
check-tsan:
ifeq ($(NIGHTLY),)
	@echo "SKIP check-tsan: no nightly toolchain (ThreadSanitizer for Rust needs -Zsanitizer)"
else
	RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
	  TSAN_OPTIONS="halt_on_error=1 suppressions=$(abspath .ci/tsan.supp)" \
	  $(CARGO) +nightly test --release --lib --tests --target $(HOST) --target-dir target/tsan
endif

# The .pc is written at install time, so it always carries this run's PREFIX and dirs.
install: $(LIB)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libaopen.so.$(VERSION)
	ln -sf libaopen.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libaopen.so.$(MAJOR)
	ln -sf libaopen.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libaopen.so
	install -m 644 $(LIBDIR_B)/libaopen.a $(DESTDIR)$(LIBDIR)/libaopen.a
	install -m 644 include/aopen.h $(DESTDIR)$(INCLUDEDIR)/aopen.h
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	  aopen.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/aopen.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libaopen.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libaopen.so.$(MAJOR) \
	  $(DESTDIR)$(LIBDIR)/libaopen.so $(DESTDIR)$(LIBDIR)/libaopen.a \
	  $(DESTDIR)$(INCLUDEDIR)/aopen.h $(DESTDIR)$(PKGCONFIGDIR)/aopen.pc

# make bench: libaopen side by side with synchronous calls and libuv (when pkg-config finds
# it), in one run; results are appended to build/bench.csv.
UV_FLAGS = $(shell pkg-config --exists libuv 2>/dev/null && echo -DHAVE_UV $$(pkg-config --cflags --libs libuv))
$(BUILD)/bench: benches/bench.c include/aopen.h $(LIB)
	@mkdir -p $(BUILD)
	$(CC) -O2 -g $(WARN) -Iinclude -o $@ $< $(LINK) $(UV_FLAGS)

bench: $(BUILD)/bench $(SHIM)
	benches/run.sh $(abspath $(SHIM))

# Runs each event-loop example under the shim; skips (with a note) a loop whose library
# pkg-config cannot find.
test-examples: $(SHIM) $(LIB)
	c-tests/examples_test.sh $(abspath $(SHIM)) libuv:libuv libevent:libevent glib:glib-2.0

# The asyncio integration (python/aopen), with the shim preloaded into python3.
test-python: $(SHIM) $(LIB)
	python/run_tests.sh $(abspath $(SHIM))

# Installs into a scratch DESTDIR and builds and runs programs there with pkg-config alone.
test-install: $(LIB)
	c-tests/install_test.sh

$(SHIM): shim/slow_open.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -o $@ $< -ldl

$(BUILD)/helpers.o: c-tests/helpers.c c-tests/helpers.h include/aopen.h
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -Iinclude -c -o $@ $<

$(BUILD)/tests/%: c-tests/%.c $(BUILD)/helpers.o c-tests/helpers.h include/aopen.h $(LIB)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS) $(WARN) -Iinclude -o $@ $< $(BUILD)/helpers.o $(LINK)

$(BUILD)/heartbeat: examples/heartbeat.c include/aopen.h $(LIB)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -Iinclude -o $@ $< $(LINK)

# Event-loop integrations: each built against its loop library found by pkg-config.
$(BUILD)/examples/libuv: PKG := libuv
$(BUILD)/examples/libevent: PKG := libevent
$(BUILD)/examples/glib: PKG := glib-2.0
$(BUILD)/examples/%: examples/%.c include/aopen.h $(LIB)
	@mkdir -p $(BUILD)/examples
	$(CC) $(CFLAGS) $(WARN) -Iinclude -o $@ $< $(LINK) $$(pkg-config --cflags --libs $(PKG))

test: check-header check-symbols test-rust test-install test-demo test-examples test-python $(BUILD)/bench test-c

# rustfmt and clippy, warnings as errors.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

test-rust:
	$(CARGO) test --release

test-c: $(TEST_BINS) $(SHIM)
	TEST_TIMEOUT=$(TEST_TIMEOUT) c-tests/run.sh $(abspath $(SHIM)) $(TEST_BINS)

DEMO_ENV := LD_PRELOAD=$(abspath $(SHIM)) SLOW_OPEN_PREFIX=/tmp/aopen-demo- SLOW_OPEN_MS=3000

demo: $(BUILD)/heartbeat $(SHIM)
	$(DEMO_ENV) $(BUILD)/heartbeat

# The demo checks itself (exit 1 if the loop stalled or a file is wrong): run it as a test.
test-demo: $(BUILD)/heartbeat $(SHIM)
	@$(DEMO_ENV) timeout 30 $(BUILD)/heartbeat > $(BUILD)/demo.log 2>&1 \
	  && echo "PASS heartbeat demo: $$(tail -n1 $(BUILD)/demo.log)" \
	  || { cat $(BUILD)/demo.log; echo "FAIL heartbeat demo"; exit 1; }

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
