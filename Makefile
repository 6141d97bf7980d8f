.PHONY: run test bench fmt

run:
	./scripts/run

test:
	./scripts/test

# Release build; prints ratios against raw rusqlite measured in the same run.
bench:
	cargo run --release -p outpost-bench

fmt:
	cargo fmt --all
