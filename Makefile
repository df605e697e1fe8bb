# huike — the two commands a user needs: `make run` and `make test`.
# Everything else here is a convenience for developers.

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
HUIKE_DB   ?= data/huike.db
PORT       ?= 8080
DEMO       ?= 1
DEMO_CUSTOMERS ?= 20000

.PHONY: all run test deps build build-test web clean format format-check

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

build-test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHK_SANITIZE=ON -DHK_WERROR=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) -- --no-print-directory

# The web console (web/dist): npm ci when node_modules is missing or the lockfile changed, then the
# Vite build when a source changed. The C build and its unit tests do not need it.
web: deps
	@bash web/scripts/build.sh

# Builds, migrates data/huike.db, creates the first admin on first start and serves the console.
# On a fresh database (the SQLite file does not exist yet) it first fills it with the demo shop
# (DEMO_CUSTOMERS customers; DEMO=0 skips it), so a new user sees a living system. Later runs
# find the file and go straight to serving.
run: build web
	@mkdir -p data
	@fresh=0; case "$(HUIKE_DB)" in postgres*) ;; *) [ -e "$(HUIKE_DB)" ] || fresh=1;; esac; \
	 $(BUILD)/huike --db $(HUIKE_DB) migrate || exit 1; \
	 if [ $$fresh = 1 ] && [ "$(DEMO)" != 0 ]; then \
	   echo "huike: a fresh database: adding the demo shop ($(DEMO_CUSTOMERS) customers; DEMO=0 skips it)"; \
	   $(BUILD)/huike --db $(HUIKE_DB) demo --customers $(DEMO_CUSTOMERS) || \
	     echo "huike: the demo shop could not be added; serving anyway"; \
	 fi
	@$(BUILD)/huike --db $(HUIKE_DB) serve --port $(PORT)

# The whole suite, under ASan+UBSan, on SQLite and on a throw-away PostgreSQL cluster.
test: build-test web
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf $(BUILD) $(TEST_BUILD)
