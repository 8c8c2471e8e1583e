# The two entry points of README.md, plus build/format helpers. Every target installs missing
# Debian packages first (scripts/install-deps.sh is idempotent and quiet when nothing is missing).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
# Benchmarks are programs, not tests: `make bench` builds them (figures in docs/benchmarks.md).
BENCH ?= OFF
CTEST_ARGS ?=
MAKEFLAGS += --no-print-directory

.PHONY: deps configure build test demo bench format clean

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DTOKENFOCUS_BUILD_BENCH=$(BENCH) $(CMAKE_ARGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || (cat $(BUILD_DIR).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench:
	@$(MAKE) build BENCH=ON

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)

format:
	@find common data models losses trainer ensemble launch tests bench \
	  \( -name '*.cpp' -o -name '*.h' \) -print0 | xargs -0 clang-format -i

clean:
	@rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
