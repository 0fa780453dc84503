# sfbtrace — see README.md. `make demo` and `make test` are the two set-up commands.
GO        ?= go
BIN       := bin/sfbtrace
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
DEMO      ?= pcaps/failing-call.pcap
FUZZTIME  ?= 10s
FUZZMIN   ?= 2s

.PHONY: build test vet fmt demo bench benchdata pcaps lab fuzz golden cross

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sfbtrace

demo: build
	./$(BIN) analyze $(DEMO)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The README's test command: formatting, vet, the whole suite with the race
# detector, and the static CGO_ENABLED=0 / darwin builds.
test: fmt vet cross
	$(GO) test -race -count=1 ./...

cross:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/sfbtrace
	CGO_ENABLED=0 GOOS=darwin $(GO) build -o /dev/null ./cmd/sfbtrace

pcaps:
	$(GO) run ./pcaps/gen -out pcaps

lab:
	SFBTRACE_LAB_OUT=$(CURDIR)/pcaps/lab $(GO) test -count=1 -run TestLab -v ./internal/lab/

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) $$pkg || exit 1; \
	  done; \
	done

golden:
	$(GO) test ./cmd/sfbtrace/ -run Golden -update

# Go benchmarks per stage, then sfbtrace vs the bare loop, tshark and
# ndpiReader on the benchmark corpus (BENCHDATA, made by benchdata if missing).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./capture/ ./analyze/...
	internal/bench/compare.sh $${BENCHDATA:-/tmp/sfbtrace-bench.pcap}

benchdata:
	$(GO) run ./pcaps/gen -bench $${BENCHDATA:-/tmp/sfbtrace-bench.pcap} -size $${SIZE:-1000000000} -seed 1
