# dhportal: `make run` serves a development site, `make test` runs the suite.
# Both set up everything themselves on a fresh clone: .venv, dependencies, the
# embedded PostgreSQL under .data/ (unless DATABASE_URL is set) and a dev env file.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEV_ENV := .data/dev.env
WITH_ENV := set -a && . ./$(DEV_ENV) && set +a &&
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run test lint serve migrate seed stop-db setup clean-venv

# The development server and one job worker (dhportal/devserver.py); Ctrl-C stops both.
run: setup
	$(WITH_ENV) $(PY) manage.py migrate --noinput
	$(WITH_ENV) $(PY) manage.py seed_demo
	$(WITH_ENV) export SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} && \
		$(PY) -m dhportal.devserver $(PY) manage.py runserver $(HOST):$(PORT)

# Tests use dhportal.settings_test (see pyproject.toml), not the dev env file. They run
# in TEST_WORKERS processes (pytest-xdist), each on its own test database; a test goes to
# whichever process is free. TEST_WORKERS=0 runs them in this one process, and
# `.venv/bin/python -m pytest tests/some_file.py` runs one file without xdist.
TEST_WORKERS ?= auto
test: setup $(VENV)/.installed-dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# gunicorn with production settings (DEBUG off); the server's own settings (threads,
# access log) come from gunicorn.conf.py. HTTPS defaults to false here so the site
# works on plain http locally; a real deployment sets its own environment.
serve: setup
	$(WITH_ENV) export DEBUG=off HTTPS=$${HTTPS:-false} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-localhost,127.0.0.1} \
		SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} && \
		$(PY) manage.py migrate --noinput && \
		$(PY) manage.py collectstatic --noinput -v 0 && \
		$(PY) -m dhportal.devserver $(VENV)/bin/gunicorn dhportal.wsgi -w $(WORKERS) -b $(HOST):$(PORT)

migrate: setup
	$(WITH_ENV) $(PY) manage.py migrate --noinput

seed: setup
	$(WITH_ENV) $(PY) manage.py seed_demo

stop-db: $(VENV)/.installed
	$(PY) -m dhportal.embedded_db stop

# An env file written before the identity provider came gets its signing key too.
setup: $(VENV)/.installed $(DEV_ENV)
	@grep -q '^IDP_OIDC_PRIVATE_KEY=' $(DEV_ENV) || $(DEV_SIGNING_KEY) >> $(DEV_ENV)

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

# Development-only settings: DEBUG on, a generated secret key and webhook secret, and
# the identity provider's signing key: an RSA key made with the venv's `cryptography`,
# its PEM on one line with the line breaks written as \n (settings.py reads them back).
# Values already set in the environment win.
DEV_SIGNING_KEY := $(PY) -c 'from cryptography.hazmat.primitives import serialization as s; \
	from cryptography.hazmat.primitives.asymmetric import rsa; \
	key = rsa.generate_private_key(public_exponent=65537, key_size=2048); \
	pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode(); \
	print("IDP_OIDC_PRIVATE_KEY=\"$${IDP_OIDC_PRIVATE_KEY:-" + pem.strip().replace(chr(10), chr(92) + "n") + "}\"")'

$(DEV_ENV): | $(VENV)/.installed
	mkdir -p .data
	$(PYTHON) -c 'import secrets; \
		print("DEBUG=\"$${DEBUG:-on}\""); \
		print("SECRET_KEY=\"$${SECRET_KEY:-" + secrets.token_urlsafe(48) + "}\""); \
		print("STRIPE_WEBHOOK_SECRET=\"$${STRIPE_WEBHOOK_SECRET:-whsec_" + secrets.token_hex(24) + "}\"")' > $@.tmp
	$(DEV_SIGNING_KEY) >> $@.tmp
	mv $@.tmp $@

clean-venv:
	rm -rf $(VENV)
