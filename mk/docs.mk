# The docs' rules (issue 29): man pages generated from include/aopen.h, and the checks that
# keep README.md and docs/ true. Included by the Makefile after its own variables
# (LIB, SONAME_LINK, BUILD, PREFIX, VERSION):
#
#   include mk/docs.mk
#   test: check-docs          # make test depends on check-docs (check-man + check-snippets)
#   install: install-man      # make install also installs the man pages
#   uninstall: uninstall-man
#
# Targets:
#   man             build/man/man3/*.3: a page per exported function, per struct, and
#                   libaopen.3 (the overview), by tools/manpages.py (python3, stdlib only).
#                   Generated, not committed: `man -l build/man/man3/aopen_submit.3`.
#   install-man     installs them into $(DESTDIR)$(MANDIR)/man3 (MANDIR: $(PREFIX)/share/man),
#                   so `man 3 aopen_submit` works after `make install`.
#   uninstall-man   removes them.
#   check-man       every symbol in aopen.symbols has a page, and every page renders with
#                   `groff -man -ww -z` and `man --warnings -l` (MANWIDTH=80) without a
#                   warning. Needs man and groff: on Debian `apt-get install man-db
#                   groff-base` (.ci/run must install them where they are missing).
#   check-snippets  every ```c block of README.md and docs/*.md compiles (a complete program
#                   is linked against the library; a block after `<!-- fragment -->` is
#                   wrapped in a function first) and every ```python block runs against
#                   the build tree's library, in a temp dir, under a timeout; README.md is
#                   at most 250 lines and every relative link of README.md and docs/ resolves
#                   (tools/check_snippets.py).
#   check-docs      check-man and check-snippets: the one `make test` depends on.
#
# `make bench` (benches/run.sh) draws build/bench.svg from build/bench.csv with
# tools/bench_plot.py, in a matplotlib venv it makes in build/benchvenv; docs/bench.svg is a
# copy of one run's, committed with the figures docs/performance.md quotes
# (`make bench-svg` copies the latest).

MANDIR  ?= $(PREFIX)/share/man
MAN_OUT := $(BUILD)/man/man3

.PHONY: man install-man uninstall-man check-man check-snippets check-docs bench-svg

man: $(MAN_OUT)/.stamp

$(MAN_OUT)/.stamp: include/aopen.h tools/manpages.py Cargo.toml
	rm -rf $(MAN_OUT)
	python3 tools/manpages.py --header include/aopen.h --version $(VERSION) $(MAN_OUT)
	@touch $@

install-man: man
	install -d $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(MAN_OUT)/*.3 $(DESTDIR)$(MANDIR)/man3/

uninstall-man: man
	cd $(MAN_OUT) && for p in *.3; do rm -f $(DESTDIR)$(MANDIR)/man3/$$p; done

check-man: man
	python3 tools/manpages.py --check $(MAN_OUT) aopen.symbols

check-snippets: $(LIB) $(SONAME_LINK)
	python3 tools/check_snippets.py --lib $(abspath $(LIB)) README.md docs/*.md

check-docs: check-man check-snippets

bench-svg:
	@test -s $(BUILD)/bench.svg || { echo "no $(BUILD)/bench.svg: run make bench first"; exit 1; }
	cp $(BUILD)/bench.svg docs/bench.svg
