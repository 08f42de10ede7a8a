# The two quickstart commands. Each sets up .venv first (scripts/setup_env.sh).
.PHONY: demo test setup test-peers

setup:
	bash scripts/setup_env.sh

demo: setup
	bash scripts/demo.sh

test: setup
	.venv/bin/python -m pytest tests

# Not part of the quickstart: parity with the reference implementations
# (schnetpack, torch-geometric, torchmd-net), installed in their own .venv-peers.
test-peers:
	bash scripts/setup_peers_env.sh
	EQUIPOT_PEER_TESTS=1 .venv-peers/bin/python -m pytest tests/peers
