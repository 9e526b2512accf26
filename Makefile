.PHONY: test demo

# Runs every test (unit, property, corpus, interop in network namespaces).
test:
	./scripts/test-all.sh

demo:
	./scripts/demo.sh
