# The two quickstart commands. Each sets up .venv first (scripts/setup_env.sh).
.PHONY: demo test setup

setup:
	bash scripts/setup_env.sh

demo: setup
	bash scripts/demo.sh

test: setup
	.venv/bin/python -m pytest tests
