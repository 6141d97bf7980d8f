.PHONY: run test bench fmt

run:
	./scripts/run

test:
	./scripts/test

# Release build; each benchmark prints ratios against a baseline measured in
# the same run (raw rusqlite; a WebSocket RPC server; LocalDb; a
# one-call-per-record sync client, for Parties and for Sales; one slave
# calling beside 50 of 200 calling; the Rust slave beside a browser
# slave). The sync benchmarks need trytond (scripts/setup).
TARGET ?= $(or $(CARGO_TARGET_DIR),target)

bench:
	cargo build --release -p outpost-cli -p outpost-bench -p outpost-print-engine
	$(TARGET)/release/outpost-bench
	$(TARGET)/release/outpost-bench-link
	$(TARGET)/release/outpost-bench-sync
	$(TARGET)/release/outpost-bench-sales
	$(TARGET)/release/outpost-bench-standby
	$(TARGET)/release/outpost-bench-people
	$(TARGET)/release/outpost-bench-reports
	$(TARGET)/release/outpost-bench-sheets
	$(TARGET)/release/outpost-bench-print
	OUTPOST_BIN=$(TARGET)/release/outpost $(TARGET)/release/outpost-bench-many
	npm --prefix ui run build
	OUTPOST_BIN=$(TARGET)/release/outpost OUTPOST_BENCH_SLAVE=$(TARGET)/release/outpost-bench-slave node tests/browser/bench.mjs

fmt:
	cargo fmt --all
