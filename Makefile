# odl - the two front-door commands are `make demo` and `make test`; both set up what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
ODL    := $(VENV)/bin/odl
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: cross compilers, emulators and build tools.
APT_PACKAGES := gcc g++ make cmake ninja-build gcc-arm-none-eabi libnewlib-arm-none-eabi clang-19 lld-19 \
                qemu-system-arm qemu-system-misc picolibc-riscv64-unknown-elf
PYTEST_ARGS ?=

.PHONY: setup apt venv test demo bench clean help

help:
	@echo "make demo   - set up, then fine-tune the digits example on the default emulated board"
	@echo "make test   - set up, then run the whole test suite"
	@echo "make setup  - install Debian packages (apt-get) and the Python environment (.venv)"
	@echo "make bench  - host kernel benchmarks (odl bench kernels --board host)"

setup: apt venv

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	else echo "Debian packages: all present"; fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: a CPU build of exactly this version lies on disk; anything looser pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $@

test: setup
	ODL_REQUIRE_TOOLS=1 $(PY) -m pytest -n 2 --timeout=900 $(PYTEST_ARGS)

demo: setup
	$(ODL) demo

bench: setup
	$(ODL) bench kernels --board host

clean:
	rm -rf build $(VENV) .pytest_cache
