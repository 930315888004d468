# The two commands of the README: `make test` and `make demo`. Each sets up .venv when needed, then runs.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PY         := $(VENV)/bin/python
# Reinstall only when something the install depends on changed (or TORCH_SPEC did: it is part of the stamp name).
STAMP      := $(VENV)/.installed-$(shell echo '$(TORCH_SPEC)' | cksum | cut -d' ' -f1)
INSTALL_DEPS := setup.py scripts/install.sh $(wildcard requirements/*.txt)

.PHONY: test demo install clean-venv

install: $(STAMP)

$(STAMP): $(INSTALL_DEPS)
	PYTHON="$(PYTHON)" TORCH_SPEC="$(TORCH_SPEC)" bash scripts/install.sh "$(VENV)"
	rm -f $(VENV)/.installed-*
	touch $@

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/gpt4o-prior demo

clean-venv:
	rm -rf $(VENV)
