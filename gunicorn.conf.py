"""gunicorn's settings for this project. gunicorn reads ./gunicorn.conf.py by itself, so
`make serve`, the benchmarks, the tests' servers and a plain `gunicorn dhportal.wsgi`
all serve the same way; command-line flags (-w, -b) still override any of it.

Slow clients: a sync worker is one request at a time, so two sockets that dribble their
headers stopped both workers until the 30 s timeout killed them (/healthz timed out 10
of 10). A gthread worker accepts in its main thread and gives each request a thread:
a slow client holds one thread of `threads`, not the worker (tests/test_slow_clients.py
holds 8 against 2 workers). gunicorn 27 has no header-read timeout for HTTP/1: a client
that keeps sending a byte now and then keeps its thread, so enough threads bound what a
handful of slow sockets can do, and a buffering proxy in front (README, "Running in
production") is what stops many.
"""

import os

# Processes: WEB_CONCURRENCY (gunicorn's and most hosts' convention), else one per core.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)

# Threads per process. Idle ones cost nothing (the pool grows on demand); each busy one
# may hold a database connection (CONN_MAX_AGE), so workers x threads x hosts should stay
# below PostgreSQL's max_connections.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 16)

# A connection that sends nothing within 5 s (gunicorn's fixed wait) is parked off the
# thread pool and closed after `keepalive` seconds, as is an idle kept-alive connection.
keepalive = 5
# For gthread this is the worker's heartbeat, not a request deadline: the main loop
# keeps beating while threads serve, so a slow client never gets the worker killed.
timeout = 30
graceful_timeout = 30

# Request size limits (gunicorn's defaults, stated): a longer request line is answered
# 414, more or larger header fields 431, before Django sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Access log on stdout, with continue and password-reset tokens elided from the request
# line, path and referer (dhportal/accesslog.py). The error log stays on stderr.
accesslog = "-"
logger_class = "dhportal.accesslog.Logger"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'

# No control socket: the project does not use gunicornc, and every gunicorn on a host
# (tests, benchmarks) would otherwise share one default path, $HOME/.gunicorn/gunicorn.ctl.
control_socket_disable = True
