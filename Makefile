# etcdgen. `make test` is what CI runs: unit tests, testscripts with goldens,
# and the end-to-end suite on a real etcd built from the Go module proxy.
GO      ?= go
BIN     ?= bin/etcdgen
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PREFIX  ?= /usr/local

.PHONY: all build test unit golden bench install e2e fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/etcdgen

# unit + testscripts and the end-to-end suite, side by side: the suite's
# passes spend much of their time waiting on etcd, systemd and Kubernetes,
# and unit alone took minutes of wall time on 2 cores before the suite
# began. Each prints its output whole when it ends (the suite's passes
# print their own). The fuzz targets' seeds (every spec of the testscripts,
# f.Add in schema/fuzz_test.go) run in unit as plain tests; fuzzing itself
# is `make fuzz`, by hand: the 10 s per target that `make test` gave it
# went to replaying the cached corpus (its baseline, 171 of 736 inputs in
# 10 s), never to new inputs, and cost about 35 CPU-seconds of a run that
# is CPU-bound on 2 cores.
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target unit e2e

unit:
	$(GO) vet ./...
	# staticcheck, pinned by the tool directive in go.mod: no findings.
	$(GO) tool staticcheck ./...
	# -ldflags=-w: no DWARF in the test binaries, which nobody debugs here;
	# each of their links (about 20 a run) costs a quarter less (cmd/etcdgen's:
	# 2.86 -> 2.10 CPU-s). Stack traces come from the symbol table, kept.
	$(GO) test -count=1 -timeout 30m -ldflags=-w ./...
	# cert-manager's own API types judge our cert-manager documents; a
	# separate module, so etcdgen never links cert-manager.
	cd targets/k8s/cmcheck && $(GO) test -count=1 ./...

# Rewrite goldens from the current output; review `git diff golden/`.
golden:
	ETCDGEN_UPDATE=1 $(GO) test -count=1 ./cmd/etcdgen/ -run TestScript
	$(GO) test -count=1 ./cmd/etcdgen/ -run TestScript

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/etcdgen

# -j1: the suite's builds (etcd of each minor, kubenode, CoreDNS,
# cert-manager) one at a time, as before unit and fuzz ran beside it; its
# passes still run side by side (e2e/Makefile's own -j).
e2e:
	@if [ -f e2e/Makefile ]; then $(MAKE) -C e2e -j1 test; else echo "e2e: no suite yet"; fi

# Fuzz the loader, load+render and the spec's fields: before a release and
# after a schema change; FUZZTIME=10m for a longer run.
FUZZTIME ?= 30s
FUZZPARALLEL ?= $(shell nproc)
fuzz:
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL)
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzLoadRender$$' -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL)
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzSpecFields$$' -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL)

clean:
	rm -rf bin
