# Fronts CMake and the local servers.
#
#   make demo   install what is missing, build, run the demo on the embedded broker
#   make test   install what is missing, build, start PostgreSQL and Kafka, run
#               every test (unit, integration, unit under ASan+UBSan), stop them
#
#   make bench-engine   build and run the engine benchmark (one core, events/s
#               and heap allocations per event); BENCH_ARGS="--events 200000"
#
#   make bench  the whole-path benchmark (bench/run.sh, docs/performance.md):
#               loyaltyd between the real broker and PostgreSQL, its ceiling,
#               batch sizes and latency; starts and stops the servers;
#               BENCH_EVENTS=100000 BENCH_SECONDS=10 for a quick try
#
#   make contracts-deps   install tests/contracts (npm ci: Ajv, the CloudEvents
#               SDK, the AsyncAPI CLI), which the integration tests run
#
# Other targets: deps, build, build-asan, unit, services-up, services-down, clean.

SHELL := /bin/bash
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)

# Debian packages: the build, the tests and the local servers; python3-yaml
# and docker-compose (its `config` needs no engine) check deploy/;
# python3-confluent-kafka and python3-jinja2 run the sample mailer
# (examples/mailer), which the tests run; gnuplot-nox draws `make bench`'s
# chart (PNG, no X).
DEB_PACKAGES := build-essential cmake ninja-build pkg-config \
	librdkafka-dev libpq-dev libcjson-dev libyaml-dev libssl-dev libcmocka-dev libmicrohttpd-dev \
	postgresql-15 postgresql-client-15 kcat python3 maven openjdk-17-jre-headless \
	procps iproute2 tzdata prometheus curl python3-yaml docker-compose \
	python3-confluent-kafka python3-jinja2 gnuplot-nox

.PHONY: all deps contracts-deps build build-asan unit test test-run demo bench-engine bench fault services-up services-down clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The contract tests' Node.js packages, pinned by tests/contracts/package-lock.json;
# reinstalled only when the lock changes. Node.js and npm come with the machine;
# Debian's are installed where they are missing.
CONTRACTS := tests/contracts
contracts-deps: $(CONTRACTS)/node_modules/.installed

$(CONTRACTS)/node_modules/.installed: $(CONTRACTS)/package.json $(CONTRACTS)/package-lock.json
	@command -v npm >/dev/null || { \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; }
	npm ci --prefix $(CONTRACTS) --no-audit --no-fund --loglevel=error
	@touch $@

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DLY_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DLY_WERROR=ON -DLY_SANITIZE=ON -DLY_INTEGRATION=OFF \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure

services-up: deps
	deploy/local/pg.sh start
	deploy/local/kafka.sh start

services-down:
	-deploy/local/kafka.sh stop
	-deploy/local/pg.sh stop

# The servers are stopped whatever the tests did; the exit status is the tests'.
test: build build-asan contracts-deps
	@$(MAKE) --no-print-directory services-up
	@status=0; \
	$(MAKE) --no-print-directory test-run || status=$$?; \
	$(MAKE) --no-print-directory services-down; \
	exit $$status

test-run:
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --test-dir $(BUILD_ASAN) -L unit --output-on-failure
	ctest --test-dir $(BUILD) --output-on-failure

demo: build
	@deploy/local/demo.sh $(BUILD)

# The fault matrix, long form (make test runs the short one).
fault: build contracts-deps services-up
	LY_BIN_DIR=$(CURDIR)/$(BUILD) LY_SOURCE_DIR=$(CURDIR) bash tests/fault/run.sh; \
		status=$$?; $(MAKE) services-down; exit $$status

BENCH_PROGRAM ?= examples/programs/anadolu-market.yaml
BENCH_ARGS ?=
bench-engine: deps
	cmake -S . -B $(BUILD) -G Ninja -DLY_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target engine_bench
	$(BUILD)/engine_bench $(BENCH_ARGS) $(BENCH_PROGRAM)

# The whole-path benchmark: figures, never a test. The broker starts empty
# (deploy/local/kafka.sh reset: it holds no other run's topics). The servers
# are stopped whatever it did; the exit status is the bench's.
bench: build services-up
	deploy/local/kafka.sh reset
	LY_BIN_DIR=$(CURDIR)/$(BUILD) LY_SOURCE_DIR=$(CURDIR) bash bench/run.sh; \
		status=$$?; $(MAKE) services-down; exit $$status

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
