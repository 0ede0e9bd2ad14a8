# pubsub - plain GNU make.  `make run` and `make test` install missing Debian
# packages first (as root), then build.  V=1 shows the full commands.

PREFIX  ?= /usr/local
DESTDIR ?=
O       := build

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes
CPPFLAGS += -Icommon -Ilibpubsub -D_GNU_SOURCE
DEPFLAGS = -MMD -MP
PKGS    := libzmq libconfig libsystemd jansson zlib libmicrohttpd

# A sanitizer build lives in a tree of its own, so the two never mix.
ifeq ($(SANITIZE),1)
O       := build-asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
OBJ     := $(O)/obj
# The test scripts find the binaries here.
export BUILD := $(abspath $(O))

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Debian packages the build and the tests need.
DEBS := libzmq3-dev libconfig-dev libsystemd-dev libjansson-dev zlib1g-dev libmicrohttpd-dev libisal-dev \
        libraft-dev libuv1-dev pkg-config
# ... what `make deb` builds and checks the Debian packages with ...
DEB_DEBS := debhelper dh-python dpkg-dev lintian
# ... and what the tests drive it with.
TEST_DEBS := python3-zmq jq valgrind man-db groff-base systemd clang libclang-rt-14-dev \
             strace python3-seccomp python3-pytest curl prometheus chromium nftables iproute2 e2fsprogs \
             $(DEB_DEBS)

SOVER   := 1
LIB_SO  := $(O)/libpubsub.so.$(SOVER)
LIB_A   := $(O)/libpubsub.a

# common/ holds what the broker and the library both use (buffer, hash,
# printable text, shared defaults); each links its own copy.
COMMON_SRC := $(wildcard common/*.c)
WIRE_SRC   := libpubsub/wire.c $(COMMON_SRC)
LIB_SRC    := $(wildcard libpubsub/*.c) $(COMMON_SRC)
# The replication seam over libraft (brokerd/repl.h): brokerd and every
# unit test linked with its objects need -lraft -luv.
REPL_LIBS  := -lraft -luv
# The durable store's checksum (brokerd/store.c, rec_crc): ISA-L's CRC-32.
STORE_LIBS := -lisal
BROKER_SRC := $(wildcard brokerd/*.c)
TOOLS      := ppub psub pctl pbench
TOOL_COMMON := tools/common.c tools/explain.c tools/progress.c
TOOL_OBJ    = $(patsubst %.c,$(OBJ)/%.o,$(TOOL_COMMON))

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

.PHONY: all deps test-deps run test bench bench-raft bench-http demo unit integration clean install uninstall deb
# Keep objects make thinks are intermediate (tools, unit tests).
.SECONDARY:
all: $(O)/brokerd $(addprefix $(O)/,$(TOOLS)) $(LIB_SO) $(LIB_A)

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "  APT    $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC     $<")
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -c $< -o $@

$(O)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC     $< (pic)")
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -fPIC -fvisibility=hidden -DPS_BUILDING_LIB -c $< -o $@

$(LIB_SO): $(patsubst %.c,$(O)/pic/%.o,$(LIB_SRC))
	@$(if $(Q),echo "  LD     $@")
	$(Q)$(CC) -shared -Wl,-soname,libpubsub.so.$(SOVER) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libzmq) -lpthread
	$(Q)ln -sf libpubsub.so.$(SOVER) $(O)/libpubsub.so

$(LIB_A): $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRC))
	@$(if $(Q),echo "  AR     $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The live page and its login form are compiled into brokerd (brokerd/www.c, by .incbin).
$(OBJ)/brokerd/www.o: brokerd/www/index.html brokerd/www/login.html

$(O)/brokerd: $(patsubst %.c,$(OBJ)/%.o,$(BROKER_SRC) $(WIRE_SRC))
	@$(if $(Q),echo "  LD     $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(REPL_LIBS) $(STORE_LIBS) -lpthread

# pbench measures the peers whose client libraries are installed.
PBENCH_PEERS := $(shell pkg-config --exists libnats 2>/dev/null && echo nats) \
                $(shell pkg-config --exists hiredis 2>/dev/null && echo redis) \
                $(shell pkg-config --exists libmosquitto 2>/dev/null && echo mosquitto)
PBENCH_PKGS  := $(patsubst nats,libnats,$(patsubst redis,hiredis,$(patsubst mosquitto,libmosquitto,$(PBENCH_PEERS))))
PBENCH_DEFS  := $(foreach p,$(PBENCH_PEERS),-DPBENCH_$(shell echo $(p) | tr a-z A-Z))
$(OBJ)/tools/pbench.o: CPPFLAGS += $(PBENCH_DEFS) $(if $(PBENCH_PKGS),$(shell pkg-config --cflags $(PBENCH_PKGS)))
# pbench is rebuilt when the set of installed peers changes (`make bench`
# installs them after a plain build): the stamp holds the set it was built with.
PBENCH_STAMP := $(O)/pbench-peers
$(shell mkdir -p $(O); echo '$(strip $(PBENCH_PEERS))' | cmp -s - $(PBENCH_STAMP) 2>/dev/null || \
  echo '$(strip $(PBENCH_PEERS))' > $(PBENCH_STAMP))
$(OBJ)/tools/pbench.o: $(PBENCH_STAMP)
$(O)/pbench: $(OBJ)/tools/pbench.o $(TOOL_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD     $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(if $(PBENCH_PKGS),$(shell pkg-config --libs $(PBENCH_PKGS))) -lpthread

# Tools link the static archive so they run from the build tree.
$(O)/%: $(OBJ)/tools/%.o $(TOOL_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD     $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(O)/tests/%: $(OBJ)/tests/unit/%.o $(filter-out $(OBJ)/brokerd/main.o,$(patsubst %.c,$(OBJ)/%.o,$(BROKER_SRC))) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD     $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(REPL_LIBS) $(STORE_LIBS) -lpthread

# C programs the integration tests run (tests/integration/NAME.c), linked
# with the static library like a user's program would be.
INTEG_SRC := $(wildcard tests/integration/*.c)
INTEG_BIN := $(patsubst tests/integration/%.c,$(O)/tests/%,$(INTEG_SRC))
$(O)/tests/%: tests/integration/%.c $(LIB_A) libpubsub/pubsub.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC     $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LIB_A) $(shell pkg-config --libs libzmq) -lpthread $(LDFLAGS)

run: deps all
	./$(O)/brokerd -v $(if $(CONF),-c $(CONF))

unit: all $(UNIT_BIN)
	@bash tests/run-unit.sh $(UNIT_BIN)

# One apt-get run for the build's and the tests' packages together.
test-deps:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(TEST_DEBS)"

test: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(UNIT_BIN) $(INTEG_BIN)
	@bash tests/run.sh

# The lecture's twelve communication models and its syslog, live, on a
# private broker of their own (demo/lecture.sh); exit 0 when all behaved.
demo: all
	@bash demo/lecture.sh

# The peers pbench compares with, from Debian's packages.
BENCH_DEBS := nats-server redis-server mosquitto libnats-dev libhiredis-dev libmosquitto-dev

bench:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(TEST_DEBS) $(BENCH_DEBS)"
	@$(MAKE) --no-print-directory all
	@bash tests/bench/run.sh
	@echo
	@bash tests/bench/http-cost.sh
	@echo
	@bash tests/bench/raft.sh

# A durable queue replicated on three nodes beside a single node's
# (tests/bench/raft.sh; the cluster needs root for its namespaces).
bench-raft:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(TEST_DEBS)"
	@$(MAKE) --no-print-directory all
	@bash tests/bench/raft.sh

# What the HTTP monitoring endpoint costs pubsub 1->1 (tests/bench/http-cost.sh).
bench-http:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(TEST_DEBS)"
	@$(MAKE) --no-print-directory all
	@bash tests/bench/http-cost.sh

clean:
	rm -rf build build-asan

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# Installation ----------------------------------------------------------------
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
VERSION    := 1.0.0
MAN1 := ppub.1 psub.1 pctl.1 pbench.1
MAN3 := libpubsub.3
MAN5 := brokerd.conf.5
MAN8 := brokerd.8
MAN_OUT := $(addprefix $(O)/man/,$(MAN1) $(MAN3) $(MAN5) $(MAN8))
# The Python package goes where Debian's python3 looks for the prefix's
# packages: /usr/lib/python3/dist-packages for /usr,
# /usr/local/lib/python3.X/dist-packages for /usr/local, else
# PREFIX/lib/python3.X/site-packages (put that on PYTHONPATH).
PYTHON     ?= $(firstword $(wildcard /usr/bin/python3) python3)
PYTHONDIR  ?= $(shell $(PYTHON) -c 'import sys, sysconfig; p, s = sys.argv[1], sysconfig.get_scheme_names(); \
  print(sysconfig.get_path("purelib", "deb_system", {"base": p}) if p == "/usr" and "deb_system" in s else \
        sysconfig.get_path("purelib", "posix_local", {"base": "/usr"}) if p == "/usr/local" and "posix_local" in s else \
        sysconfig.get_path("purelib", "posix_prefix", {"base": p}))' $(PREFIX) 2>/dev/null)
PY_SRC     := $(wildcard python/pubsub/*.py)

# Files that name installation paths are made from templates (@SBINDIR@
# and the like).  The stamp holds the paths they were made for, so that
# `make install PREFIX=/usr` after a /usr/local install does not install
# files that point into /usr/local.
# The directories the dynamic linker searches by itself (Debian's
# ld.so.conf has /usr/local/lib).  A library installed anywhere else is
# found by the programs built with pkg-config through an rpath the .pc
# file adds, and `make install` says how others find it.
comma := ,
SYSTEM_LIBDIRS := /lib /usr/lib /usr/local/lib $(addprefix /usr/lib/,$(shell $(CC) -print-multiarch 2>/dev/null))
OWN_LIBDIR := $(filter-out $(SYSTEM_LIBDIRS),$(patsubst %/,%,$(LIBDIR)))
PC_RPATH := $(if $(OWN_LIBDIR),-Wl$(comma)-rpath$(comma)$${libdir} )
SUBST := -e 's|@RPATH@|$(PC_RPATH)|g' -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
  -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@MANDIR@|$(MANDIR)|g' \
  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@UNITDIR@|$(UNITDIR)|g' -e 's|@VERSION@|$(VERSION)|g'
PATHS_STAMP := $(O)/install-paths
$(shell mkdir -p $(O); echo '$(subst ','',$(SUBST))' | cmp -s - $(PATHS_STAMP) 2>/dev/null || \
  echo '$(subst ','',$(SUBST))' > $(PATHS_STAMP))

# The manual pages, with the paths of this installation, are part of `all`.
# Their sources are templates (man/NAME.in), so no page with @VERSION@ left
# in it is ever at hand to read.
all: $(MAN_OUT)
$(O)/man/%: man/%.in $(PATHS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN    $@")
	$(Q)sed $(SUBST) $< > $@

$(O)/libpubsub.pc: conf/libpubsub.pc.in $(PATHS_STAMP)
	@$(if $(Q),echo "  GEN    $@")
	$(Q)sed $(SUBST) $< > $@

$(O)/brokerd.service: conf/brokerd.service $(PATHS_STAMP)
	@$(if $(Q),echo "  GEN    $@")
	$(Q)sed $(SUBST) $< > $@

install: all $(O)/libpubsub.pc $(O)/brokerd.service
	@echo "  INSTALL $(DESTDIR)$(PREFIX)"
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/pubsub $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(Q)install -m 755 $(O)/brokerd $(DESTDIR)$(SBINDIR)/brokerd
	$(Q)install -m 755 $(addprefix $(O)/,$(TOOLS)) $(DESTDIR)$(BINDIR)/
	$(Q)install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libpubsub.so.$(VERSION)
	$(Q)ln -sf libpubsub.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpubsub.so.$(SOVER)
	$(Q)ln -sf libpubsub.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libpubsub.so
	$(Q)install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libpubsub.a
	$(Q)install -m 644 libpubsub/pubsub.h $(DESTDIR)$(INCLUDEDIR)/pubsub.h
	$(Q)install -m 644 $(O)/libpubsub.pc $(DESTDIR)$(PKGCONFIGDIR)/libpubsub.pc
	$(Q)install -m 644 $(O)/brokerd.service $(DESTDIR)$(UNITDIR)/brokerd.service
	$(Q)install -m 644 conf/brokerd.socket $(DESTDIR)$(UNITDIR)/brokerd.socket
	@# An administrator's configuration is never overwritten.
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/pubsub/brokerd.conf ]; then \
	  echo "  KEEP   $(DESTDIR)$(SYSCONFDIR)/pubsub/brokerd.conf (yours; the example is conf/brokerd.conf)"; \
	else install -m 644 conf/brokerd.conf $(DESTDIR)$(SYSCONFDIR)/pubsub/brokerd.conf; fi
	$(Q)for m in $(MAN1); do install -m 644 $(O)/man/$$m $(DESTDIR)$(MANDIR)/man1/; done
	$(Q)for m in $(MAN3); do install -m 644 $(O)/man/$$m $(DESTDIR)$(MANDIR)/man3/; done
	$(Q)for m in $(MAN5); do install -m 644 $(O)/man/$$m $(DESTDIR)$(MANDIR)/man5/; done
	$(Q)for m in $(MAN8); do install -m 644 $(O)/man/$$m $(DESTDIR)$(MANDIR)/man8/; done
	@$(MAKE) --no-print-directory install-completion install-python
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi
	$(if $(OWN_LIBDIR),@echo "  NOTE   $(LIBDIR) is not searched by the dynamic linker: programs built with"; \
	  echo "         pkg-config libpubsub find libpubsub.so.1 there by their rpath; for others set"; \
	  echo "         LD_LIBRARY_PATH=$(LIBDIR) or add it to /etc/ld.so.conf.d/ and run ldconfig"; \
	  echo "         (the tools in $(BINDIR) need neither: they carry the library inside)")

uninstall:
	@echo "  UNINSTALL $(DESTDIR)$(PREFIX)"
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/brokerd $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS))
	$(Q)rm -f $(DESTDIR)$(LIBDIR)/libpubsub.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpubsub.so.$(SOVER) \
	  $(DESTDIR)$(LIBDIR)/libpubsub.so $(DESTDIR)$(LIBDIR)/libpubsub.a
	$(Q)rm -f $(DESTDIR)$(INCLUDEDIR)/pubsub.h $(DESTDIR)$(PKGCONFIGDIR)/libpubsub.pc
	$(Q)rm -f $(DESTDIR)$(UNITDIR)/brokerd.service $(DESTDIR)$(UNITDIR)/brokerd.socket
	$(Q)rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(MAN1)) $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(MAN3)) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(MAN5)) $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(MAN8))
	@$(MAKE) --no-print-directory uninstall-completion uninstall-python
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/pubsub/brokerd.conf ]; then \
	  echo "  KEEP   $(DESTDIR)$(SYSCONFDIR)/pubsub/brokerd.conf (your configuration; remove it by hand)"; fi

# Bash completion: one file, found by bash-completion under each tool's name.
COMPLETED := ppub psub pctl pbench brokerd
install-completion:
	$(Q)install -d $(DESTDIR)$(COMPLETIONDIR)
	$(Q)for t in $(COMPLETED); do install -m 644 conf/pubsub-completion.bash $(DESTDIR)$(COMPLETIONDIR)/$$t; done

uninstall-completion:
	$(Q)rm -f $(addprefix $(DESTDIR)$(COMPLETIONDIR)/,$(COMPLETED))
.PHONY: install-completion uninstall-completion

# The Python package: its modules, with the library's directory written
# into _capi.py only where the dynamic linker does not search it (as the
# .pc file's rpath): elsewhere the package finds libpubsub.so.1 by its
# soname and names no path, so that it is the same on every architecture.
install-python:
	$(Q)[ -n "$(PYTHONDIR)" ] || { echo "no $(PYTHON): cannot tell where the Python package goes (set PYTHONDIR)"; exit 1; }
	$(Q)install -d $(DESTDIR)$(PYTHONDIR)/pubsub
	$(Q)for f in $(PY_SRC); do sed -e 's|@LIBDIR@|$(OWN_LIBDIR)|g' $$f > $(DESTDIR)$(PYTHONDIR)/pubsub/$$(basename $$f) && \
	  chmod 644 $(DESTDIR)$(PYTHONDIR)/pubsub/$$(basename $$f) || exit 1; done

# __pycache__ included, which Python writes when root imports the package.
uninstall-python:
	$(Q)[ -n "$(PYTHONDIR)" ] || { echo "no $(PYTHON): cannot tell where the Python package is (set PYTHONDIR)"; exit 1; }
	$(Q)rm -f $(addprefix $(DESTDIR)$(PYTHONDIR)/pubsub/,$(notdir $(PY_SRC)))
	$(Q)rm -rf $(DESTDIR)$(PYTHONDIR)/pubsub/__pycache__
	$(Q)rmdir $(DESTDIR)$(PYTHONDIR)/pubsub 2> /dev/null || true
.PHONY: install-python uninstall-python

# Debian packages ---------------------------------------------------------------
# `make deb` builds brokerd, libpubsub1, libpubsub-dev, pubsub-tools and
# python3-pubsub (debian/) with debhelper and dh-python from a copy of the tree in $(O)/deb, so nothing
# is written outside the build directory, then runs lintian on them: any
# tag down to "info" fails the build (debian/*.lintian-overrides say why
# each overridden one is there).  No -dbgsym packages unless
# DEB_BUILD_OPTIONS says otherwise.
DEB_DIR := $(O)/deb
deb:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(DEB_DEBS)"
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/pubsub-$(VERSION)
	$(Q)tar -c --exclude=./build --exclude=./build-asan --exclude=./.git . | tar -x -C $(DEB_DIR)/pubsub-$(VERSION)
	@echo "  DEB    $(DEB_DIR)"
	@# The package's build is a make of its own: none of this one's variables
	@# (O=, SANITIZE=, PREFIX=...) may reach it through MAKEFLAGS.
	$(Q)cd $(DEB_DIR)/pubsub-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  DEB_BUILD_OPTIONS="$(or $(DEB_BUILD_OPTIONS),parallel=2 noddebs)" \
	  dpkg-buildpackage -b -us -uc > ../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@echo "  LINT   $(DEB_DIR)/*.deb"
	$(Q)lintian --fail-on error,warning,info --display-level '>=info' $(DEB_DIR)/*_$(VERSION)_*.deb
	@cd $(DEB_DIR) && ls *_$(VERSION)_*.deb | sed 's/^/  built  /'

# Fuzzing (libFuzzer, clang) --------------------------------------------------
# `make fuzz` runs each target for FUZZ_SECONDS on a scratch copy of its seeds;
# the test suite runs it briefly.  Crashes are left in build/fuzz/.  Then
# the soak of t0540 for SOAK_SECONDS: its hostile clients in waves beside
# an honest pair, the broker's RSS sampled and held to its bound throughout
# (SOAK_SECONDS=0 leaves it out, as the test suite's brief run does).
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 300
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_BIN     := $(O)/fuzz/fuzz_wire $(O)/fuzz/fuzz_config $(O)/fuzz/fuzz_link
FUZZ_DEBS    := clang libclang-rt-14-dev
# config.c checks CURVE keys with libzmq's Z85 functions.
FUZZ_PKG_CFLAGS = $(shell pkg-config --cflags libconfig libzmq 2>/dev/null)

fuzz-deps:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(FUZZ_DEBS)"

$(O)/fuzz/fuzz_wire: tests/fuzz/fuzz_wire.c $(WIRE_SRC) libpubsub/wire.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_wire.c $(WIRE_SRC)

# The configuration reader: its loaders and what they stand on.
CONFIG_SRC := brokerd/config.c brokerd/config_errors.c brokerd/config_scan.c \
              brokerd/config_schema.c brokerd/policy.c brokerd/log.c
$(O)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(CONFIG_SRC) $(WIRE_SRC) brokerd/brokerd.h brokerd/config_int.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -Ibrokerd $(FUZZ_PKG_CFLAGS) -o $@ \
	  tests/fuzz/fuzz_config.c $(CONFIG_SRC) $(WIRE_SRC) \
	  $(shell pkg-config --libs libconfig libzmq)

# The cluster's link protocol: cluster.c without sockets, and what it
# stands on (topic matching, the configuration's names, the log).
LINK_SRC := brokerd/cluster.c brokerd/topic.c $(CONFIG_SRC)
$(O)/fuzz/fuzz_link: tests/fuzz/fuzz_link.c $(LINK_SRC) $(WIRE_SRC) brokerd/brokerd.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -Ibrokerd $(FUZZ_PKG_CFLAGS) -o $@ \
	  tests/fuzz/fuzz_link.c $(LINK_SRC) $(WIRE_SRC) \
	  $(shell pkg-config --libs libconfig libzmq)

fuzz: fuzz-deps $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); seeds=tests/fuzz/seeds/$${n#fuzz_}; work=$(O)/fuzz/corpus-$${n#fuzz_}; \
	  mkdir -p $$work && cp -n $$seeds/* $$work/ 2>/dev/null; \
	  echo "  FUZZ   $$n for $(FUZZ_SECONDS) s"; \
	  (cd $(O)/fuzz && LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	     ./$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 corpus-$${n#fuzz_} \
	     > $$n.log 2>&1) || { tail -30 $(O)/fuzz/$$n.log; echo "$$n: crash, see $(O)/fuzz/"; exit 1; }; \
	  grep -h "^Done" $(O)/fuzz/$$n.log; \
	done
	@[ "$(SOAK_SECONDS)" = 0 ] || { \
	  $(MAKE) --no-print-directory test-deps all && \
	  echo "  SOAK   t0540 for $(SOAK_SECONDS) s" && \
	  SOAK_SECONDS=$(SOAK_SECONDS) BUILD=$(abspath $(O)) timeout --kill-after=10 $$(($(SOAK_SECONDS) + 120)) \
	    bash tests/integration/t0540-soak.sh > $(O)/fuzz/soak.log 2>&1 || \
	  { tail -20 $(O)/fuzz/soak.log; echo "soak: failed, see $(O)/fuzz/soak.log"; exit 1; }; \
	  grep "^ok: " $(O)/fuzz/soak.log; }
.PHONY: fuzz fuzz-deps
