# A thin wrapper over CMake for people who type `make`. Every job first
# installs the Debian packages it needs (scripts/deps.sh, apt-get).
#
#   make demo        build and run the main demo (event loop: a chat server and two clients)
#   make demo-direct build and run the direct-layer demo
#   make test        build and run the whole test suite
#   make test-asan   the suite under AddressSanitizer + UBSan
#   make valgrind    the suite under valgrind memcheck (no errors, no leaks)
#   make fuzz        run the URI parser fuzzer for FUZZ_SECONDS (clang/libFuzzer)
#   make bench       axon against libuv, libevent and a raw-epoll floor (bench/run.sh)
#   make install     install to PREFIX (default /usr/local)

BUILD ?= build
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=
cmake_build = cmake -S . -B $(1) -G Ninja $(2) $(CMAKE_FLAGS) >/dev/null && cmake --build $(1)

.PHONY: all build demo demo-direct test test-asan valgrind fuzz bench install clean

all: build

build:
	@scripts/deps.sh build
	$(call cmake_build,$(BUILD),-DAXON_WERROR=ON)

demo: build
	./$(BUILD)/examples/10-chat-demo

demo-direct: build
	./$(BUILD)/examples/00-direct-demo

test:
	@scripts/deps.sh test
	$(call cmake_build,$(BUILD),-DAXON_WERROR=ON)
	cd $(BUILD) && ctest --output-on-failure --timeout 900

test-asan:
	@scripts/deps.sh test
	$(call cmake_build,$(BUILD)-asan,-DAXON_WERROR=ON -DAXON_SANITIZE=ON -DAXON_CONN_SLAB=OFF -DCMAKE_BUILD_TYPE=Debug)
	cd $(BUILD)-asan && ctest --output-on-failure --timeout 900

valgrind:
	@scripts/deps.sh test
	$(call cmake_build,$(BUILD)-vg,-DAXON_WERROR=ON -DAXON_CONN_SLAB=OFF -DCMAKE_BUILD_TYPE=Debug)
	scripts/valgrind.sh $(BUILD)-vg

fuzz:
	@scripts/deps.sh fuzz
	$(call cmake_build,$(BUILD)-fuzz,-DCMAKE_C_COMPILER=clang -DAXON_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug)
	mkdir -p $(BUILD)-fuzz/corpus-uri
	./$(BUILD)-fuzz/tests/fuzz_uri -max_total_time=$(FUZZ_SECONDS) $(BUILD)-fuzz/corpus-uri tests/fuzz/corpus/uri

bench:
	@scripts/deps.sh bench
	$(call cmake_build,$(BUILD)-bench,-DAXON_WERROR=ON -DAXON_BENCH=ON -DAXON_TESTS=OFF -DAXON_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
	bench/run.sh $(BUILD)-bench

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-vg $(BUILD)-fuzz $(BUILD)-bench
