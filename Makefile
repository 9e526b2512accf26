.PHONY: test demo kube-up kube-down

# Runs every test (unit, property, corpus, interop in network namespaces).
test:
	./scripts/test-all.sh

demo:
	./scripts/demo.sh

# A real etcd + kube-apiserver on 127.0.0.1 to poke at by hand (the rig the
# Kubernetes e2e tests use; first run builds it, see scripts/kube-rig.sh).
KUBE_DIR ?= /tmp/oxlb-kube
kube-up:
	./scripts/kube-rig.sh install
	./scripts/kube-rig.sh up $(KUBE_DIR)
	@echo "export KUBECONFIG=$(KUBE_DIR)/kubeconfig PATH=$$(./scripts/kube-rig.sh bin):\$$PATH"

kube-down:
	./scripts/kube-rig.sh down $(KUBE_DIR)
