# Thin wrapper around scripts/, CMake and ctest. See README.md.
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all bootstrap configure build test run bench soak sanitize tsan format format-check clean

all: build

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Unit tests, node API tests and the bounded cluster scenarios.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# Builds and starts a local cluster in the foreground (Ctrl-C stops it).
run: build
	@scripts/run-cluster $(BUILD)

bench: build
	@scripts/bench $(BUILD)

soak: build
	@scripts/soak $(BUILD)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DCAIRN_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug"

tsan:
	@$(MAKE) --no-print-directory test BUILD=build-tsan CMAKE_FLAGS="-DCAIRN_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug"

FORMAT_SRC = $(shell git ls-files '*.c' '*.h')

format:
	@clang-format -i $(FORMAT_SRC)

format-check: bootstrap
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: ok"

clean:
	rm -rf $(BUILD) build-asan build-tsan
