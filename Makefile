# The two entry points of README.md, plus build/format helpers. Every target installs what is missing
# first: Debian packages and the Python environment .venv/ (scripts/install-deps.sh is idempotent and
# quiet when nothing is missing).
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

# Ninja for a new build folder; an existing one keeps the generator it was made with.
GENERATOR = $(if $(wildcard $(BUILD_DIR)/CMakeCache.txt),,-G Ninja)

configure: deps
	@cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DTOKENFOCUS_BUILD_BENCH=$(BENCH) $(CMAKE_ARGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || (cat $(BUILD_DIR).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# `gpu` tests need a CUDA device (scripts/gpu-check.sh runs them); every other label runs here.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE gpu $(CTEST_ARGS)

bench:
	@$(MAKE) build BENCH=ON

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)

format:
	@find common data models losses trainer ensemble launch tests bench \
	  \( -name '*.cpp' -o -name '*.h' \) -print0 | xargs -0 clang-format -i

clean:
	@rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
