# The everyday commands. See README.md.
.PHONY: dev test bench token build lint

## Run the service locally: DynamoDB Local + the local API on 127.0.0.1:3000.
dev:
	infra/local/dev.sh

## Run every check and test (what CI runs).
test:
	infra/local/test.sh

## The benchmark (not part of `make test`): make bench [ARGS=--quick]
bench:
	infra/local/bench.sh $(ARGS)

## Print a dev token: make token ROLE=company_manager ORG=acme [EMAIL=ann@acme.example]
token:
	@cargo run -q -p seatkeeper-local -- token --role "$(ROLE)" --org "$(ORG)" $(if $(EMAIL),--email "$(EMAIL)")

build:
	cargo build --workspace

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## Build the web console and upload it to a deployed stack: make console-upload STACK=<stack name>
.PHONY: console-upload
console-upload:
	@test -n "$(STACK)" || { echo "usage: make console-upload STACK=<stack name>" >&2; exit 2; }
	infra/console-upload.sh "$(STACK)"
